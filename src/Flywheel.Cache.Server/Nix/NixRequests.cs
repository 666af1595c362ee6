using Flywheel.Cache.Caches;

namespace Flywheel.Cache.Server.Nix;

/// <summary>What every Nix route does first: find the cache named in the path.</summary>
internal static class NixRequests
{
    public static async ValueTask<CacheContext> ResolveCacheAsync(HttpContext context, CacheCatalog catalog, string name) =>
        await catalog.FindAsync(name, context.RequestAborted)
            ?? throw CacheException.NotFound($"no cache named '{name}'");
}
