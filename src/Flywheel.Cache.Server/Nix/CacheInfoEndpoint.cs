using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;

namespace Flywheel.Cache.Server.Nix;

/// <summary><c>GET /&lt;cache&gt;/nix-cache-info</c>: StoreDir, WantMassQuery, Priority.</summary>
internal static class CacheInfoEndpoint
{
    public static async Task GetAsync(HttpContext context, string cache, CacheCatalog catalog, RequestAuthorizer auth)
    {
        var c = await NixRequests.ResolveCacheAsync(context, catalog, cache);
        await auth.RequireAsync(context, c, TokenScopes.Pull);
        context.Response.ContentType = "text/x-nix-cache-info";
        context.Response.ContentLength = c.CacheInfo.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(c.CacheInfo, context.RequestAborted);
        }
    }
}
