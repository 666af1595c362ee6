using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Tokens;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/caches/{name}/upstreams</c>: list, add and remove (<c>?url=</c>) the upstream caches a cache reads
/// through to. Admin on the cache.
/// </summary>
internal static class UpstreamsApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/caches/{name}/upstreams", ListAsync);
        api.MapPost("/caches/{name}/upstreams", AddAsync);
        api.MapDelete("/caches/{name}/upstreams", RemoveAsync);
    }

    private static async Task<IResult> ListAsync(HttpContext context, string name, UpstreamCatalog upstreams, RequestAuthorizer auth)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        var list = await upstreams.ListAsync(cache, context.RequestAborted);
        return Results.Ok(list.Select(UpstreamView.From));
    }

    private static async Task<IResult> AddAsync(
        HttpContext context, string name, ApiBodies bodies, UpstreamCatalog upstreams, RequestAuthorizer auth, ILogger<UpstreamCatalog> logger)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        var request = await bodies.ReadJsonAsync<AddUpstreamRequest>(context);
        var timeout = request.Timeout is { Length: > 0 } t ? Durations.Parse(t) : (TimeSpan?)null;
        var added = await upstreams.AddAsync(cache, request.Url, request.TrustedKeys ?? [], request.Priority, request.Token, timeout, context.RequestAborted);
        logger.LogInformation("cache {Cache}: added upstream {Url} (priority {Priority}, keys {Keys})", cache.Name, added.Url, added.Priority, string.Join(' ', added.TrustedKeys));
        return Results.Created($"/_api/v1/caches/{cache.Name}/upstreams", UpstreamView.From(added));
    }

    private static async Task<IResult> RemoveAsync(
        HttpContext context, string name, string? url, UpstreamCatalog upstreams, RequestAuthorizer auth, ILogger<UpstreamCatalog> logger)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        await upstreams.RemoveAsync(cache, url ?? "", context.RequestAborted);
        logger.LogInformation("cache {Cache}: removed upstream {Url}", cache.Name, ClientText.Cut(url));
        return Results.NoContent();
    }
}
