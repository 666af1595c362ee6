using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/caches</c>: list (admin), create (admin), show one with its public key and usage (pull), change its
/// settings (admin).
/// </summary>
internal static class CachesApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/caches", ListAsync);
        api.MapPost("/caches", CreateAsync);
        api.MapGet("/caches/{name}", GetAsync);
        api.MapPatch("/caches/{name}", UpdateAsync);
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

    private static async Task<IResult> CreateAsync(HttpContext context, ApiBodies bodies, CacheCatalog catalog, RequestAuthorizer auth, ILogger<CacheCatalog> logger)
    {
        var token = await auth.RequireScopeAsync(context, TokenScopes.Admin);
        var request = await bodies.ReadJsonAsync<CreateCacheRequest>(context);
        RequestAuthorizer.RequireScopes(token, request.Name ?? "", TokenScopes.Admin);
        var settings = request.Settings();
        var cache = await catalog.CreateAsync(
            request.Name ?? "", request.Public, request.Priority, context.RequestAborted, settings.Retention, settings.QuotaBytes);
        logger.LogInformation(
            "created cache {Cache} (public: {Public}, priority {Priority}, retention {Retention}, quota {Quota}, key {PublicKey})",
            cache.Name, request.Public, request.Priority, cache.Record.Retention, cache.Record.QuotaBytes, cache.Record.PublicKey);
        return Results.Created($"/_api/v1/caches/{cache.Name}", CacheView.From(cache.Record));
    }

    private static async Task<IResult> GetAsync(HttpContext context, string name, CacheCatalog catalog, RequestAuthorizer auth, IRetentionStore retention)
    {
        var cache = await auth.AuthorizeAsync(context, await catalog.ReloadAsync(name, context.RequestAborted), TokenScopes.Pull)
            ?? throw RequestAuthorizer.NoSuchCache(name);
        return Results.Ok(CacheView.From(cache.Record, await retention.GetCacheUsageAsync(cache.Id, context.RequestAborted)));
    }

    private static async Task<IResult> UpdateAsync(
        HttpContext context, string name, ApiBodies bodies, CacheCatalog catalog, RequestAuthorizer auth, ILogger<CacheCatalog> logger)
    {
        _ = await auth.AuthorizeAsync(context, await catalog.ReloadAsync(name, context.RequestAborted), TokenScopes.Admin) ?? throw RequestAuthorizer.NoSuchCache(name);
        var request = await bodies.ReadJsonAsync<UpdateCacheRequest>(context);
        var cache = await catalog.UpdateAsync(name, request.Change(), context.RequestAborted);
        var r = cache.Record;
        logger.LogInformation(
            "changed cache {Cache}: public: {Public}, priority {Priority}, retention {Retention}, quota {Quota}",
            r.Name, r.IsPublic, r.Priority, r.Retention, r.QuotaBytes);
        return Results.Ok(CacheView.From(r));
    }
}
