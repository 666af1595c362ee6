using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Auth.Oidc;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>POST /_api/v1/auth/oidc</c>: a CI job's OIDC ID token as <c>Authorization: Bearer &lt;jwt&gt;</c> (never looked up
/// as a flywheel token), optional body <c>{"cache": "main"}</c> read only once the JWT is verified; answers
/// <c>{"token", "expiresAt", "cache", "scopes"}</c>. See <see cref="OidcExchange"/>.
/// </summary>
internal static class OidcApi
{
    public static void Map(IEndpointRouteBuilder api) => api.MapPost("/auth/oidc", ExchangeAsync);

    private static async Task<IResult> ExchangeAsync(HttpContext context, ApiBodies bodies, OidcExchange exchange)
    {
        var header = context.Request.Headers.Authorization;
        var jwt = header.Count == 0 ? null : RequestAuthorizer.ExtractBearer(header.ToString());
        var answer = await exchange.ExchangeAsync(jwt, async () => HasBody(context.Request)
            ? (await bodies.ReadJsonAsync<OidcExchangeRequest>(context)).Cache
            : null, context.RequestAborted);
        return Results.Ok(answer);
    }

    private static bool HasBody(HttpRequest request) => request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0);
}
