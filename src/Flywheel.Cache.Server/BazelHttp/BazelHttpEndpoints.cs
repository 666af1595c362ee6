using Flywheel.Cache.Bazel;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Http;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.BazelHttp;

/// <summary>
/// Bazel's HTTP remote cache: <c>GET|HEAD|PUT /ac/&lt;sha256&gt;</c> and <c>/cas/&lt;sha256&gt;</c>, optionally under
/// <c>/&lt;instance&gt;/</c> (Bazel keeps the path of <c>--remote_cache=http://host/instance</c>). 404 is a miss;
/// a CAS PUT must hash to its name; an AC PUT must be a serialized ActionResult; an AC GET answers only entries
/// whose blobs all exist.
/// </summary>
internal static class BazelHttpEndpoints
{
    private const string OctetStream = "application/octet-stream";

    public static void Map(IEndpointRouteBuilder app)
    {
        string[] read = [HttpMethods.Get, HttpMethods.Head];
        string[] write = [HttpMethods.Put];
        foreach (var prefix in new[] { "", "/{instance}" })
        {
            app.MapMethods(prefix + "/ac/{hash}", read, GetActionResultAsync);
            app.MapMethods(prefix + "/ac/{hash}", write, PutActionResultAsync);
            app.MapMethods(prefix + "/cas/{hash}", read, GetBlobAsync);
            app.MapMethods(prefix + "/cas/{hash}", write, PutBlobAsync);
        }
    }

    private static async Task GetActionResultAsync(HttpContext context, string hash, string? instance, BazelInstances instances, BazelCache cache)
    {
        var ns = await instances.ResolveAsync(context, instance, TokenScopes.Pull);
        // The action cache is keyed by the action's hash; HTTP carries no size, and the size is not part of the key.
        var bytes = await cache.GetActionResultAsync(ns, new BazelDigest(ParseHash(hash), 0), context.RequestAborted);
        if (bytes is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        context.Response.ContentType = OctetStream;
        context.Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
        }
    }

    private static async Task PutActionResultAsync(HttpContext context, string hash, string? instance, BazelInstances instances, BazelCache cache, ILogger<BazelCache> logger)
    {
        var digest = ParseHash(hash);
        var ns = await instances.ResolveAsync(context, instance, TokenScopes.Push);
        var body = await RequestBodies.ReadSmallAsync(context.Request, cache.Limits.MaxActionResultBytes, "action result");
        await cache.PutActionResultAsync(ns, new BazelDigest(digest, 0), body, context.RequestAborted);
        logger.LogInformation("instance {Instance}: stored action result {Action} ({Bytes} bytes)", ns.Name, hash, body.Length);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task GetBlobAsync(HttpContext context, string hash, string? instance, BazelInstances instances, BazelCache cache)
    {
        var ns = await instances.ResolveAsync(context, instance, TokenScopes.Pull);
        var blob = await cache.OpenAsync(ns, ParseHash(hash), context.RequestAborted);
        if (blob is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await BlobResponses.SendAsync(context, blob, OctetStream);
    }

    private static async Task PutBlobAsync(HttpContext context, string hash, string? instance, BazelInstances instances, BazelCache cache)
    {
        var digest = ParseHash(hash);
        var ns = await instances.ResolveAsync(context, instance, TokenScopes.Push);
        var length = context.Request.ContentLength
            ?? throw new CacheException(CacheError.Invalid, "a CAS PUT needs a Content-Length: the blob's size is part of its digest");
        await using var upload = await cache.BeginUploadAsync(ns, new BazelDigest(digest, length), context.RequestAborted);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer.AsMemory(0, 128 * 1024), context.RequestAborted)) > 0)
            {
                await upload.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        await upload.CommitAsync(context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static BlobDigest ParseHash(string hash) =>
        BlobDigest.TryParseHex(hash, out var digest) && !hash.Any(char.IsUpper)
            ? digest
            : throw CacheException.Invalid($"'{ClientText.Cut(hash)}' is not a SHA-256 digest: expected 64 lower-case hex digits");
}
