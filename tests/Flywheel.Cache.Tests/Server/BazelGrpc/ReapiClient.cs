using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Google.Bytestream;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>Typed REAPI calls through the generated clients over Grpc.Net.Client, with a token, for the service tests.</summary>
internal sealed class ReapiClient : IDisposable
{
    /// <summary>As the server's limit (ReapiGrpc.MaxMessageBytes): Grpc.Net.Client's default receive limit is 4 MB, below a full batch.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    private readonly string? _token;
    private readonly string _instance;

    /// <param name="instance">The instance_name the CAS and action cache calls carry ("": the default instance).</param>
    public ReapiClient(Uri address, string? token, string instance = "")
    {
        Channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = MaxMessageBytes, MaxSendMessageSize = null });
        _token = token;
        _instance = instance;
        Capabilities = new Capabilities.CapabilitiesClient(Channel);
        Cas = new ContentAddressableStorage.ContentAddressableStorageClient(Channel);
        ActionCache = new ActionCache.ActionCacheClient(Channel);
        ByteStream = new ByteStream.ByteStreamClient(Channel);
    }

    public GrpcChannel Channel { get; }

    public Capabilities.CapabilitiesClient Capabilities { get; }

    public ContentAddressableStorage.ContentAddressableStorageClient Cas { get; }

    public ActionCache.ActionCacheClient ActionCache { get; }

    public ByteStream.ByteStreamClient ByteStream { get; }

    /// <summary>The token (if any) and a 30-second deadline.</summary>
    public CallOptions Options(TimeSpan? timeout = null)
    {
        var headers = new Metadata();
        if (_token is not null)
        {
            headers.Add("authorization", "Bearer " + _token);
        }

        return new CallOptions(headers, DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30)));
    }

    public async Task<ServerCapabilities> CapabilitiesAsync(string instance = "") =>
        await Capabilities.GetCapabilitiesAsync(new GetCapabilitiesRequest { InstanceName = instance }, Options());

    public async Task<FindMissingBlobsResponse> FindMissingAsync(params Digest[] digests)
    {
        var request = new FindMissingBlobsRequest { InstanceName = _instance };
        request.BlobDigests.AddRange(digests);
        return await Cas.FindMissingBlobsAsync(request, Options());
    }

    public async Task<BatchUpdateBlobsResponse> BatchUpdateAsync(params (Digest Digest, byte[] Data)[] blobs)
    {
        var request = new BatchUpdateBlobsRequest { InstanceName = _instance };
        foreach (var (digest, data) in blobs)
        {
            request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = ByteString.CopyFrom(data) });
        }

        return await Cas.BatchUpdateBlobsAsync(request, Options());
    }

    public async Task<BatchReadBlobsResponse> BatchReadAsync(params Digest[] digests)
    {
        var request = new BatchReadBlobsRequest { InstanceName = _instance };
        request.Digests.AddRange(digests);
        return await Cas.BatchReadBlobsAsync(request, Options());
    }

    public async Task<List<GetTreeResponse>> GetTreeAsync(Digest root, int pageSize = 0)
    {
        using var call = Cas.GetTree(new GetTreeRequest { InstanceName = _instance, RootDigest = root, PageSize = pageSize }, Options());
        return await call.ResponseStream.ReadAllAsync().ToListAsync();
    }

    public async Task<ActionResult> GetActionResultAsync(Digest action, bool inlineStdout = false) =>
        await ActionCache.GetActionResultAsync(new GetActionResultRequest { InstanceName = _instance, ActionDigest = action, InlineStdout = inlineStdout }, Options());

    public async Task<ActionResult> UpdateActionResultAsync(Digest action, ActionResult result) =>
        await ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest { InstanceName = _instance, ActionDigest = action, ActionResult = result }, Options());

    public async Task<byte[]> ReadAsync(string resourceName, long offset = 0, long limit = 0)
    {
        using var buffer = new MemoryStream();
        using var call = ByteStream.Read(new ReadRequest { ResourceName = resourceName, ReadOffset = offset, ReadLimit = limit }, Options());
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            Assert.InRange(chunk.Data.Length, 1, 2 * 1024 * 1024);
            chunk.Data.WriteTo(buffer);
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// A ByteStream Write in <paramref name="chunk"/>-byte messages; the server may answer before the last one (the
    /// blob exists), and then the rest is not sent. With <paramref name="stopAfter"/> the call breaks off after that
    /// many bytes, as a dropped connection would.
    /// </summary>
    public async Task<WriteResponse> WriteAsync(string resourceName, byte[] data, long offset = 0, int chunk = 64 * 1024, int? stopAfter = null)
    {
        using var call = ByteStream.Write(Options());
        await foreach (var message in Chunks(resourceName, data, offset, chunk, stopAfter))
        {
            if (call.ResponseAsync.IsCompleted)
            {
                break; // answered early
            }

            try
            {
                await call.RequestStream.WriteAsync(message);
            }
            catch (RpcException) when (call.ResponseAsync.IsCompleted)
            {
                break; // answered early, between the check above and this write: the answer is the call's result
            }
        }

        if (!call.ResponseAsync.IsCompleted)
        {
            await call.RequestStream.CompleteAsync();
        }

        return await call.ResponseAsync;
    }

    public async Task<QueryWriteStatusResponse> QueryWriteStatusAsync(string resourceName) =>
        await ByteStream.QueryWriteStatusAsync(new QueryWriteStatusRequest { ResourceName = resourceName }, Options());

    /// <summary>The request stream; with <paramref name="stopAfter"/> it breaks (throws) after that many bytes, as a dropped connection would.</summary>
    private static async IAsyncEnumerable<WriteRequest> Chunks(string resourceName, byte[] data, long offset, int chunk, int? stopAfter)
    {
        var first = true;
        for (var position = offset; position < data.Length || first; position += chunk)
        {
            if (stopAfter is { } stop && position >= stop)
            {
                await Task.Delay(200); // let the server take what was sent
                throw new IOException("connection dropped (test)");
            }

            var length = (int)Math.Min(chunk, data.Length - position);
            yield return new WriteRequest
            {
                ResourceName = first ? resourceName : "",
                WriteOffset = position,
                Data = ByteString.CopyFrom(data, (int)position, length),
                FinishWrite = position + length >= data.Length,
            };
            first = false;
            await Task.Yield();
        }
    }

    public static Digest DigestOf(byte[] data) => BazelDigest.Compute(data).ToProto();

    public void Dispose() => Channel.Dispose();
}
