using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <summary><c>/_api/v1/caches</c>: list (admin), create (admin), show one with its public key (pull).</summary>
internal static class CachesApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/caches", ListAsync);
        api.MapPost("/caches", CreateAsync);
        api.MapGet("/caches/{name}", GetAsync);
    }

    private static async Task<IResult> ListAsync(HttpContext context, CacheCatalog catalog, RequestAuthorizer auth)
    {
        var token = await auth.RequireAuthenticatedAsync(context);
        if (!token.Scopes.HasFlag(TokenScopes.Admin))
        {
            throw new CacheException(CacheError.Forbidden, "listing caches needs a token with admin");
        }

        var caches = await catalog.ListAsync(context.RequestAborted);
        return Results.Ok(caches.Where(c => CachePattern.Matches(token.CachePattern, c.Name)).Select(CacheView.From));
    }

    private static async Task<IResult> CreateAsync(HttpContext context, CreateCacheRequest request, CacheCatalog catalog, RequestAuthorizer auth, ILogger<CacheCatalog> logger)
    {
        await auth.RequireTokenAsync(context, request.Name ?? "", TokenScopes.Admin);
        var cache = await catalog.CreateAsync(request.Name ?? "", request.Public, request.Priority, context.RequestAborted);
        logger.LogInformation("created cache {Cache} (public: {Public}, priority {Priority}, key {PublicKey})", cache.Name, request.Public, request.Priority, cache.Record.PublicKey);
        return Results.Created($"/_api/v1/caches/{cache.Name}", CacheView.From(cache.Record));
    }

    private static async Task<IResult> GetAsync(HttpContext context, string name, CacheCatalog catalog, RequestAuthorizer auth)
    {
        var cache = await catalog.FindAsync(name, context.RequestAborted) ?? throw CacheException.NotFound($"no cache named '{name}'");
        await auth.RequireAsync(context, cache, TokenScopes.Pull);
        return Results.Ok(CacheView.From(cache.Record));
    }
}
