using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Grpc;
using Flywheel.Cache.Index;
using Google.Protobuf;
using RpcStatus = Google.Rpc.Status;

namespace Flywheel.Cache.Server.Bazel.Grpc;

/// <summary>
/// <c>ContentAddressableStorage</c>: FindMissingBlobs (one batched index query), BatchUpdateBlobs and
/// BatchReadBlobs (per-blob status; the whole batch within max_batch_total_size_bytes), GetTree (paged stream).
/// </summary>
internal static class ContentAddressableStorageService
{
    public const string Name = "build.bazel.remote.execution.v2.ContentAddressableStorage";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGrpcUnaryRaw<FindMissingBlobsCall>($"/{Name}/FindMissingBlobs", FindMissingBlobsCall.Decode, FindMissingAsync);
        app.MapGrpcUnary<BatchUpdateBlobsRequest, BatchUpdateBlobsResponse>($"/{Name}/BatchUpdateBlobs", BatchUpdateBlobsRequest.Parser, BatchUpdateAsync);
        app.MapGrpcUnary<BatchReadBlobsRequest, BatchReadBlobsResponse>($"/{Name}/BatchReadBlobs", BatchReadBlobsRequest.Parser, BatchReadAsync);
        app.MapGrpcServerStreaming<GetTreeRequest, GetTreeResponse>($"/{Name}/GetTree", GetTreeRequest.Parser, GetTreeAsync);
    }

    /// <summary>The request decoded and the answer encoded at the wire level: see <see cref="FindMissingBlobsCall"/>.</summary>
    private static async Task<IGrpcPayload> FindMissingAsync(FindMissingBlobsCall request, GrpcCallContext call)
    {
        var services = call.HttpContext.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(call.HttpContext, request.InstanceName, TokenScopes.Pull);
        request.Answer(await services.GetRequiredService<BazelCache>().FindMissingPositionsAsync(instance, request.Digests, call.CancellationToken));
        return request;
    }

    private static async Task<BatchUpdateBlobsResponse> BatchUpdateAsync(BatchUpdateBlobsRequest request, GrpcCallContext call)
    {
        var services = call.HttpContext.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(call.HttpContext, request.InstanceName, TokenScopes.Push);
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
            return new RpcStatus { Code = (int)GrpcStatusCode.OK };
        }
        catch (CacheException e) when (e.Error != CacheError.Unavailable)
        {
            return new RpcStatus { Code = (int)GrpcErrorMapping.ToStatusCode(e.Error), Message = e.Message };
        }
    }

    private static async Task<BatchReadBlobsResponse> BatchReadAsync(BatchReadBlobsRequest request, GrpcCallContext call)
    {
        var services = call.HttpContext.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(call.HttpContext, request.InstanceName, TokenScopes.Pull);
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
                    ? new RpcStatus { Code = (int)GrpcStatusCode.NotFound, Message = $"blob {digest} not found" }
                    : new RpcStatus { Code = (int)GrpcStatusCode.OK },
            });
        }

        return response;
    }

    private static async Task GetTreeAsync(GetTreeRequest request, IGrpcStreamWriter<GetTreeResponse> writer, GrpcCallContext call)
    {
        var services = call.HttpContext.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(call.HttpContext, request.InstanceName, TokenScopes.Pull);
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
