using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Grpc;
using Google.Bytestream;
using Google.Protobuf;

namespace Flywheel.Cache.Tests.Server.Bazel;

/// <summary>Typed REAPI calls over our gRPC client, with a token, for the service tests.</summary>
public sealed class ReapiClient : IDisposable
{
    private const string Cas = "/build.bazel.remote.execution.v2.ContentAddressableStorage/";
    private const string Ac = "/build.bazel.remote.execution.v2.ActionCache/";
    private const string ByteStream = "/google.bytestream.ByteStream/";
    private readonly GrpcClient _client;
    private readonly string? _token;
    private readonly string _instance;

    /// <param name="instance">The instance_name the CAS and action cache calls carry ("": the default instance).</param>
    public ReapiClient(Uri address, string? token, string instance = "")
    {
        _client = new GrpcClient(address);
        _token = token;
        _instance = instance;
    }

    public GrpcCallOptions Options()
    {
        var options = new GrpcCallOptions { Timeout = TimeSpan.FromSeconds(30) };
        if (_token is not null)
        {
            options.Headers["authorization"] = "Bearer " + _token;
        }

        return options;
    }

    public Task<ServerCapabilities> CapabilitiesAsync(string instance = "") =>
        _client.UnaryAsync("/build.bazel.remote.execution.v2.Capabilities/GetCapabilities", new GetCapabilitiesRequest { InstanceName = instance }, ServerCapabilities.Parser, Options());

    public Task<FindMissingBlobsResponse> FindMissingAsync(params Digest[] digests)
    {
        var request = new FindMissingBlobsRequest { InstanceName = _instance };
        request.BlobDigests.AddRange(digests);
        return _client.UnaryAsync(Cas + "FindMissingBlobs", request, FindMissingBlobsResponse.Parser, Options());
    }

    public Task<BatchUpdateBlobsResponse> BatchUpdateAsync(params (Digest Digest, byte[] Data)[] blobs)
    {
        var request = new BatchUpdateBlobsRequest { InstanceName = _instance };
        foreach (var (digest, data) in blobs)
        {
            request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = ByteString.CopyFrom(data) });
        }

        return _client.UnaryAsync(Cas + "BatchUpdateBlobs", request, BatchUpdateBlobsResponse.Parser, Options());
    }

    public Task<BatchReadBlobsResponse> BatchReadAsync(params Digest[] digests)
    {
        var request = new BatchReadBlobsRequest { InstanceName = _instance };
        request.Digests.AddRange(digests);
        return _client.UnaryAsync(Cas + "BatchReadBlobs", request, BatchReadBlobsResponse.Parser, Options());
    }

    public async Task<List<GetTreeResponse>> GetTreeAsync(Digest root, int pageSize = 0)
    {
        var pages = new List<GetTreeResponse>();
        await foreach (var page in _client.ServerStreamingAsync(Cas + "GetTree", new GetTreeRequest { InstanceName = _instance, RootDigest = root, PageSize = pageSize }, GetTreeResponse.Parser, Options()))
        {
            pages.Add(page);
        }

        return pages;
    }

    public Task<ActionResult> GetActionResultAsync(Digest action, bool inlineStdout = false) =>
        _client.UnaryAsync(Ac + "GetActionResult", new GetActionResultRequest { InstanceName = _instance, ActionDigest = action, InlineStdout = inlineStdout }, ActionResult.Parser, Options());

    public Task<ActionResult> UpdateActionResultAsync(Digest action, ActionResult result) =>
        _client.UnaryAsync(Ac + "UpdateActionResult", new UpdateActionResultRequest { InstanceName = _instance, ActionDigest = action, ActionResult = result }, ActionResult.Parser, Options());

    public async Task<byte[]> ReadAsync(string resourceName, long offset = 0, long limit = 0)
    {
        using var buffer = new MemoryStream();
        await foreach (var chunk in _client.ServerStreamingAsync(ByteStream + "Read", new ReadRequest { ResourceName = resourceName, ReadOffset = offset, ReadLimit = limit }, ReadResponse.Parser, Options()))
        {
            Assert.InRange(chunk.Data.Length, 1, 2 * 1024 * 1024);
            chunk.Data.WriteTo(buffer);
        }

        return buffer.ToArray();
    }

    public Task<WriteResponse> WriteAsync(string resourceName, byte[] data, long offset = 0, int chunk = 64 * 1024, int? stopAfter = null) =>
        _client.ClientStreamingAsync(ByteStream + "Write", Chunks(resourceName, data, offset, chunk, stopAfter), WriteResponse.Parser, Options());

    public Task<QueryWriteStatusResponse> QueryWriteStatusAsync(string resourceName) =>
        _client.UnaryAsync(ByteStream + "QueryWriteStatus", new QueryWriteStatusRequest { ResourceName = resourceName }, QueryWriteStatusResponse.Parser, Options());

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

    public void Dispose() => _client.Dispose();
}
