using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;

namespace Flywheel.Cache.Server.NixHttp;

/// <summary><c>GET /&lt;cache&gt;/nix-cache-info</c>: StoreDir, WantMassQuery, Priority.</summary>
internal static class CacheInfoEndpoint
{
    public static async Task GetAsync(HttpContext context, string cache, RequestAuthorizer auth)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Pull);
        context.Response.ContentType = "text/x-nix-cache-info";
        context.Response.ContentLength = c.CacheInfo.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(c.CacheInfo, context.RequestAborted);
        }
    }

    /// <summary>
    /// <c>PUT /&lt;cache&gt;/nix-cache-info</c>: what <c>nix copy --to</c> sends when it thinks the cache is new.
    /// The cache's own settings stay authoritative; the upload is acknowledged for an existing cache (with a push
    /// token) and refused with a clear message for an unknown one (or one the caller may not discover: the same message).
    /// </summary>
    public static async Task PutAsync(HttpContext context, string cache, RequestAuthorizer auth)
    {
        _ = await auth.FindAsync(context, cache, TokenScopes.Push)
            ?? throw CacheException.NotFound($"no cache named {ClientText.Quote(cache)}; create it first with `flywheel cache create {ClientText.Cut(cache)}`");
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
