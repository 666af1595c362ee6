using Flywheel.Cache.Caches;

namespace Flywheel.Cache.Server.Nix;

/// <summary>What every Nix route does first: find the cache named in the path.</summary>
internal static class NixRequests
{
    public static async ValueTask<CacheContext> ResolveCacheAsync(HttpContext context, CacheCatalog catalog, string name) =>
        await catalog.FindAsync(name, context.RequestAborted)
            ?? throw CacheException.NotFound($"no cache named '{name}'");

    public static async Task<byte[]> ReadSmallBodyAsync(HttpRequest request, long limit, string what)
    {
        if (request.ContentLength > limit)
        {
            throw new CacheException(CacheError.TooLarge, $"{what} of {request.ContentLength} bytes exceeds the limit of {limit} bytes");
        }

        using var buffer = new MemoryStream(request.ContentLength is { } n ? (int)n : 4096);
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new CacheException(CacheError.TooLarge, $"{what} exceeds the limit of {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
