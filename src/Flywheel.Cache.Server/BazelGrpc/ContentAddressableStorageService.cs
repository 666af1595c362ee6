using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Google.Protobuf;
using Grpc.Core;
using RpcStatus = Google.Rpc.Status;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// <c>ContentAddressableStorage</c>: FindMissingBlobs (one batched index query), BatchUpdateBlobs and
/// BatchReadBlobs (per-blob status; the whole batch within max_batch_total_size_bytes), GetTree (paged stream).
/// The generated methods are bound as generated, except FindMissingBlobs: <see cref="FindMissingBlobsMethod"/> binds
/// it with its own marshaller to <see cref="FindMissingAsync"/> (see <see cref="BindService"/>).
/// </summary>
[BindServiceMethod(typeof(ContentAddressableStorageService), nameof(BindService))]
internal sealed class ContentAddressableStorageService : ContentAddressableStorage.ContentAddressableStorageBase
{
    /// <summary>The service's descriptor, for server reflection (found through the <see cref="BindServiceMethodAttribute"/>).</summary>
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => ContentAddressableStorage.Descriptor;

    /// <summary>
    /// What Grpc.AspNetCore binds this service with: the generated binding, less FindMissingBlobs. The second
    /// parameter is the generated base type, so the generated methods' overrides are found on it as usual.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, ContentAddressableStorage.ContentAddressableStorageBase service) =>
        ContentAddressableStorage.BindService(new FindMissingBlobsMethod.BinderWithout(binder), service);

    /// <summary>The request decoded and the answer encoded at the wire level: see <see cref="FindMissingBlobsCall"/>.</summary>
    public async Task<FindMissingBlobsCall> FindMissingAsync(FindMissingBlobsCall request, ServerCallContext call)
    {
        var http = call.GetHttpContext();
        http.Response.RegisterForDispose(request); // its pooled buffers go back once the answer (the same object) is sent
        call.WriteOptions = ByteStreamService.Uncompressed; // hex digests: gzip costs more time than it saves on the hot path
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Pull);
        BazelDigest.RequireServedFunction(request.DigestFunction);
        request.Answer(await services.GetRequiredService<BazelCache>().FindMissingPositionsAsync(instance, request.Digests, call.CancellationToken));
        return request;
    }

    public override async Task<BatchUpdateBlobsResponse> BatchUpdateBlobs(BatchUpdateBlobsRequest request, ServerCallContext call)
    {
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Push);
        BazelDigest.RequireServedFunction(request.DigestFunction);
        var cache = services.GetRequiredService<BazelCache>();
        var total = request.Requests.Sum(r => (long)r.Data.Length);
        if (total > cache.Limits.MaxBatchTotalBytes)
        {
            throw CacheException.Invalid($"batch of {total} bytes exceeds max_batch_total_size_bytes {cache.Limits.MaxBatchTotalBytes}; use ByteStream for large blobs");
        }

        var response = new BatchUpdateBlobsResponse();
        foreach (var item in request.Requests)
        {
            var status = await StoreAsync(cache, instance, item, call.CancellationToken);
            response.Responses.Add(new BatchUpdateBlobsResponse.Types.Response { Digest = item.Digest, Status = status });
        }

        return response;
    }

    private static async Task<RpcStatus> StoreAsync(BazelCache cache, CacheContext instance, BatchUpdateBlobsRequest.Types.Request item, CancellationToken cancellationToken)
    {
        try
        {
            var digest = BazelDigest.From(item.Digest, "digest");
            var compressor = item.Compressor switch
            {
                Compressor.Types.Value.Identity => BlobCompressor.Identity,
                Compressor.Types.Value.Zstd => BlobCompressor.Zstd,
                var other => throw CacheException.Invalid($"unsupported compressor {other}"),
            };
            await using var upload = await cache.BeginUploadAsync(instance, digest, compressor, cancellationToken);
            await upload.WriteAsync(item.Data.Memory, cancellationToken);
            await upload.CommitAsync(cancellationToken);
            return new RpcStatus { Code = (int)StatusCode.OK };
        }
        catch (CacheException e) when (e.Error != CacheError.Unavailable)
        {
            return new RpcStatus { Code = (int)GrpcErrorMapping.ToStatusCode(e.Error), Message = e.Message };
        }
    }

    public override async Task<BatchReadBlobsResponse> BatchReadBlobs(BatchReadBlobsRequest request, ServerCallContext call)
    {
        call.WriteOptions = ByteStreamService.Uncompressed;
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Pull);
        BazelDigest.RequireServedFunction(request.DigestFunction);
        var cache = services.GetRequiredService<BazelCache>();
        var digests = request.Digests.Select(d => BazelDigest.From(d, "digests")).ToArray();
        var total = digests.Sum(d => d.SizeBytes);
        if (total > cache.Limits.MaxBatchTotalBytes)
        {
            throw CacheException.Invalid($"batch of {total} bytes exceeds max_batch_total_size_bytes {cache.Limits.MaxBatchTotalBytes}; use ByteStream for large blobs");
        }

        var response = new BatchReadBlobsResponse();
        foreach (var digest in digests)
        {
            var data = await cache.ReadSmallAsync(instance, digest, cache.Limits.MaxBatchTotalBytes, call.CancellationToken);
            response.Responses.Add(new BatchReadBlobsResponse.Types.Response
            {
                Digest = digest.ToProto(),
                Data = data is null ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(data),
                Compressor = Compressor.Types.Value.Identity,
                Status = data is null
                    ? new RpcStatus { Code = (int)StatusCode.NotFound, Message = $"blob {digest} not found" }
                    : new RpcStatus { Code = (int)StatusCode.OK },
            });
        }

        return response;
    }

    public override async Task GetTree(GetTreeRequest request, IServerStreamWriter<GetTreeResponse> writer, ServerCallContext call)
    {
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Pull);
        BazelDigest.RequireServedFunction(request.DigestFunction);
        var cache = services.GetRequiredService<BazelCache>();
        var root = BazelDigest.From(request.RootDigest, "root_digest");
        if (request.PageSize < 0)
        {
            throw CacheException.Invalid("page_size must not be negative");
        }

        var token = request.PageToken;
        do
        {
            var page = await cache.GetTreeAsync(instance, root, request.PageSize, token, call.CancellationToken);
            if (page.Directories.Count == 0 && string.IsNullOrEmpty(token))
            {
                throw CacheException.NotFound($"tree root {root} not found");
            }

            var response = new GetTreeResponse { NextPageToken = page.NextPageToken };
            response.Directories.AddRange(page.Directories);
            await writer.WriteAsync(response, call.CancellationToken);
            token = page.NextPageToken;
        }
        while (!string.IsNullOrEmpty(token));
    }
}
