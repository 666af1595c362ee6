using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/caches/{name}/pins</c>: list (pull), pin and unpin (admin) store paths that retention never collects,
/// with their closure.
/// </summary>
internal static class PinsApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/caches/{name}/pins", ListAsync);
        api.MapPost("/caches/{name}/pins", PinAsync);
        api.MapDelete("/caches/{name}/pins/{path}", UnpinAsync);
    }

    private static async Task<IResult> ListAsync(HttpContext context, string name, CachePins pins, RequestAuthorizer auth)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Pull);
        return Results.Ok((await pins.ListAsync(cache, context.RequestAborted)).Select(PinView.From));
    }

    private static async Task<IResult> PinAsync(
        HttpContext context, string name, ApiBodies bodies, CachePins pins, RequestAuthorizer auth, ILogger<CachePins> logger)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        var request = await bodies.ReadJsonAsync<PinRequest>(context);
        var hash = await pins.PinAsync(cache, request.StorePath ?? "", request.Reason, context.RequestAborted);
        logger.LogInformation("cache {Cache}: pinned {StorePath} ({Reason})", cache.Name, hash, ClientText.Cut(request.Reason));
        var pin = (await pins.ListAsync(cache, context.RequestAborted)).FirstOrDefault(p => p.StorePathHash == hash)
            ?? throw new CacheException(CacheError.Unavailable, $"the pin on {hash} was removed while it was being made");
        return Results.Created($"/_api/v1/caches/{cache.Name}/pins/{hash}", PinView.From(pin));
    }

    private static async Task<IResult> UnpinAsync(
        HttpContext context, string name, string path, CachePins pins, RequestAuthorizer auth, ILogger<CachePins> logger)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        if (!await pins.UnpinAsync(cache, path, context.RequestAborted))
        {
            throw CacheException.NotFound($"cache '{cache.Name}' has no pin on {ClientText.Quote(path)}");
        }

        logger.LogInformation("cache {Cache}: unpinned {StorePath}", cache.Name, ClientText.Cut(path));
        return Results.NoContent();
    }
}
