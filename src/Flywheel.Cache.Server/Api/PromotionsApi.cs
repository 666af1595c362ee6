using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Trust;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/promotions</c>: ask the gate to promote (a token with promote on the cache), read a promotion's
/// decision and audit record, list promotions with filters (pull on the cache: whoever may read a cache may read
/// what was promoted from it).
/// </summary>
internal static class PromotionsApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapPost("/promotions", PromoteAsync);
        api.MapGet("/promotions/{id}", GetAsync);
        api.MapGet("/promotions", ListAsync);
    }

    private static async Task<IResult> PromoteAsync(
        HttpContext context, ApiBodies bodies, PromotionGate gate, RequestAuthorizer auth, ITrustStore trust, ILogger<PromotionGate> logger)
    {
        var token = await auth.RequireScopeAsync(context, TokenScopes.Promote); // before the body: it names the cache
        var request = (await bodies.ReadJsonAsync<PromotionRequestBody>(context)).ToRequest();
        if (await trust.GetTokenIdentityAsync(token.Id, context.RequestAborted) is { } identity)
        {
            // A token minted from a CI job's OIDC token: its source is verified, not declared.
            request = request with { Verified = VerifiedIdentity.FromClaims(identity.Issuer, identity.Subject, identity.Claims) };
        }

        var cache = await auth.ResolveAsync(context, request.Cache, TokenScopes.Promote);
        var record = await gate.PromoteAsync(cache, request, context.RequestAborted);
        logger.LogInformation("promotion {Id} by {Token} of {Count} paths ({Paths}) in {Cache}: {Class}, {Status}{Error}",
            record.Id, token.Id, request.StorePaths.Count, ClientText.Cut(string.Join(' ', request.StorePaths)), cache.Name, record.Class, record.Status,
            record.Error is null ? "" : " (" + ClientText.Cut(record.Error) + ")");
        return Results.Ok(PromotionView.From(record, cache.Name));
    }

    private static async Task<IResult> GetAsync(HttpContext context, string id, CacheCatalog catalog, PromotionGate gate, RequestAuthorizer auth)
    {
        // A promotion of a cache the caller may not discover is answered as one that does not exist.
        var missing = CacheException.NotFound($"no promotion {ClientText.Quote(id)}");
        var record = await gate.GetAsync(id, context.RequestAborted) ?? throw missing;
        var name = (await catalog.ListAsync(context.RequestAborted)).FirstOrDefault(c => c.Id == record.CacheId)?.Name;
        var cache = await auth.AuthorizeAsync(context, name is null ? null : await catalog.FindAsync(name, context.RequestAborted), TokenScopes.Pull)
            ?? throw missing;
        return Results.Ok(PromotionView.From(record, cache.Name));
    }

    private static async Task<IResult> ListAsync(
        HttpContext context, CacheCatalog catalog, PromotionGate gate, RequestAuthorizer auth,
        string? cache = null, string? status = null, string? @class = null, string? repository = null, string? revision = null,
        string? storePath = null, DateTimeOffset? before = null, int limit = 100)
    {
        if (limit is < 1 or > 1000)
        {
            throw CacheException.Invalid("limit is 1 to 1000");
        }

        string? hash = null;
        if (storePath is not null)
        {
            hash = Flywheel.Cache.Nix.StorePath.TryParse(storePath, out var path) ? path.HashPart
                : Flywheel.Cache.Nix.StorePath.IsValidHashPart(storePath) ? storePath
                : throw CacheException.Invalid($"storePath {ClientText.Quote(storePath)} is neither a store path nor its hash part");
        }

        var caches = await catalog.ListAsync(context.RequestAborted);
        long? cacheId = null;
        if (cache is not null)
        {
            cacheId = (await auth.ResolveAsync(context, cache, TokenScopes.Pull)).Id;
        }

        var token = await auth.AuthenticateAsync(context);
        var readable = caches.Where(c => RequestAuthorizer.MayRead(token, c)).ToDictionary(c => c.Id, c => c.Name);
        var found = await gate.ListAsync(new PromotionQuery(cacheId, status, @class, repository, revision, hash, before, limit), context.RequestAborted);
        return Results.Ok(found.Where(p => readable.ContainsKey(p.CacheId)).Select(p => PromotionView.From(p, readable[p.CacheId])));
    }
}
