using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Auth.Oidc;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/caches/{name}/trust</c>: list, add and remove (<c>/trust/{id}</c>) the OIDC trust policies of a cache.
/// Admin on the cache; a caller who may not discover the cache is told it does not exist.
/// </summary>
internal static class TrustApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/caches/{name}/trust", ListAsync);
        api.MapPost("/caches/{name}/trust", AddAsync);
        api.MapDelete("/caches/{name}/trust/{id}", RemoveAsync);
    }

    private static async Task<IResult> ListAsync(HttpContext context, string name, TrustPolicyCatalog policies, RequestAuthorizer auth)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        return Results.Ok((await policies.ListAsync(cache, context.RequestAborted)).Select(TrustPolicyView.From));
    }

    private static async Task<IResult> AddAsync(
        HttpContext context, string name, ApiBodies bodies, TrustPolicyCatalog policies, RequestAuthorizer auth, ILogger<TrustPolicyCatalog> logger)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        var request = await bodies.ReadJsonAsync<AddTrustPolicyRequest>(context);
        var added = await policies.AddAsync(
            cache, request.Issuer ?? "", request.Audience ?? "", request.Claims ?? [], request.Scopes ?? "", request.Ttl, context.RequestAborted);
        var view = TrustPolicyView.From(added);
        logger.LogInformation("cache {Cache}: trust policy {Id} added: issuer {Issuer}, audience {Audience}, claims {Claims}, scopes {Scopes}, ttl {Ttl}",
            cache.Name, view.Id, view.Issuer, view.Audience, string.Join(' ', view.Claims), string.Join(',', view.Scopes), view.Ttl);
        return Results.Created($"/_api/v1/caches/{cache.Name}/trust/{added.Id}", view);
    }

    private static async Task<IResult> RemoveAsync(
        HttpContext context, string name, string id, TrustPolicyCatalog policies, RequestAuthorizer auth, ILogger<TrustPolicyCatalog> logger)
    {
        var cache = await auth.ResolveAsync(context, name, TokenScopes.Admin);
        var revoked = await policies.RemoveAsync(cache, id, context.RequestAborted);
        logger.LogInformation("cache {Cache}: trust policy {Id} removed, {Revoked} live tokens it minted revoked", cache.Name, ClientText.Cut(id), revoked);
        return Results.NoContent();
    }
}
