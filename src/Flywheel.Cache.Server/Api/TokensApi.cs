using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/tokens</c>: create, list and revoke tokens. A token with admin on a pattern manages tokens for
/// exactly that pattern; one with admin on <c>*</c> manages all.
/// </summary>
internal static class TokensApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/tokens", ListAsync);
        api.MapPost("/tokens", CreateAsync);
        api.MapDelete("/tokens/{id}", RevokeAsync);
    }

    private static async Task<IResult> ListAsync(HttpContext context, TokenService tokens, RequestAuthorizer auth)
    {
        var admin = await RequireAdminAsync(context, auth);
        var all = await tokens.ListAsync(context.RequestAborted);
        return Results.Ok(all.Where(t => Manages(admin, t.CachePattern)).Select(TokenView.From));
    }

    private static async Task<IResult> CreateAsync(HttpContext context, ApiBodies bodies, TokenService tokens, RequestAuthorizer auth, ILogger<TokenService> logger)
    {
        var admin = await RequireAdminAsync(context, auth);
        var request = await bodies.ReadJsonAsync<CreateTokenRequest>(context);
        var pattern = request.Cache ?? "";
        if (!Manages(admin, pattern))
        {
            throw new CacheException(CacheError.Forbidden, $"token {admin.Id} manages tokens for '{admin.CachePattern}' only, not {ClientText.Quote(pattern)}");
        }

        var scopes = TokenScopeNames.Parse(request.Scopes ?? "");
        var ttl = request.Ttl is { Length: > 0 } t ? Durations.Parse(t) : (TimeSpan?)null;
        var (token, secret) = await tokens.CreateAsync(pattern, scopes, ttl, request.Description, context.RequestAborted);
        logger.LogInformation("token {Id} created by {Admin}: {Scopes} on {Pattern}", token.Id, admin.Id, TokenScopeNames.Format(scopes), pattern);
        return Results.Created($"/_api/v1/tokens/{token.Id}", new CreatedToken(TokenView.From(token), secret));
    }

    private static async Task<IResult> RevokeAsync(HttpContext context, string id, TokenService tokens, RequestAuthorizer auth, ILogger<TokenService> logger)
    {
        var admin = await RequireAdminAsync(context, auth);
        var target = (await tokens.ListAsync(context.RequestAborted)).FirstOrDefault(t => t.Id == id)
            ?? throw CacheException.NotFound($"no token with id {ClientText.Quote(id)}");
        if (!Manages(admin, target.CachePattern))
        {
            throw new CacheException(CacheError.Forbidden, $"token {admin.Id} manages tokens for '{admin.CachePattern}' only");
        }

        await tokens.RevokeAsync(id, context.RequestAborted);
        logger.LogInformation("token {Id} revoked by {Admin}", id, admin.Id);
        return Results.NoContent();
    }

    private static async Task<TokenRecord> RequireAdminAsync(HttpContext context, RequestAuthorizer auth)
    {
        var token = await auth.RequireAuthenticatedAsync(context);
        return token.Scopes.HasFlag(TokenScopes.Admin)
            ? token
            : throw new CacheException(CacheError.Forbidden, $"token {token.Id} has no admin scope");
    }

    private static bool Manages(TokenRecord admin, string pattern) => admin.CachePattern == "*" || admin.CachePattern == pattern;
}
