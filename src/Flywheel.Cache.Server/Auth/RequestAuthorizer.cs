using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Auth;

/// <summary>
/// Checks the token of a request against what a route needs. Tokens come as <c>Authorization: Bearer T</c>
/// or as the password of Basic credentials (what Nix sends from a netrc file). Pulling from a public cache
/// needs no token; everything else does. No credentials: 401; credentials that are unknown, revoked or
/// expired: 401; a valid token without the scope or cache: 403.
/// </summary>
public sealed class RequestAuthorizer
{
    private readonly TokenService _tokens;

    public RequestAuthorizer(TokenService tokens)
    {
        _tokens = tokens;
    }

    /// <summary>The request's token, null when it sent none; throws when it sent one that is not live.</summary>
    public async ValueTask<TokenRecord?> AuthenticateAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization;
        if (header.Count == 0)
        {
            return null;
        }

        var secret = ExtractSecret(header.ToString())
            ?? throw new CacheException(CacheError.Unauthenticated, "unsupported Authorization header: send 'Bearer <token>' or Basic credentials with the token as password");
        return await _tokens.AuthenticateAsync(secret, context.RequestAborted)
            ?? throw new CacheException(CacheError.Unauthenticated, "the token is unknown, revoked or expired");
    }

    /// <summary>The request's live token; throws when it sent none or one that is not live.</summary>
    public async ValueTask<TokenRecord> RequireAuthenticatedAsync(HttpContext context) =>
        await AuthenticateAsync(context) ?? throw new CacheException(CacheError.Unauthenticated, "this needs a token");

    /// <summary>Throws unless the request may do <paramref name="needed"/> on <paramref name="cache"/>.</summary>
    public ValueTask RequireAsync(HttpContext context, CacheContext cache, TokenScopes needed)
    {
        if (needed == TokenScopes.Pull && cache.Record.IsPublic && context.Request.Headers.Authorization.Count == 0)
        {
            return ValueTask.CompletedTask; // the hot path: anonymous pull from a public cache
        }

        return RequireSlowAsync(context, cache, needed);
    }

    private async ValueTask RequireSlowAsync(HttpContext context, CacheContext cache, TokenScopes needed) =>
        await RequireTokenAsync(context, cache.Name, needed, cache.Record.IsPublic);

    /// <summary>Throws unless the request's token has <paramref name="needed"/> on caches matching <paramref name="cacheName"/>.</summary>
    public async ValueTask<TokenRecord> RequireTokenAsync(HttpContext context, string cacheName, TokenScopes needed, bool publicPull = false)
    {
        var token = await AuthenticateAsync(context)
            ?? throw new CacheException(CacheError.Unauthenticated, $"this needs a token with {TokenScopeNames.Format(needed)} on '{cacheName}'");
        if (needed == TokenScopes.Pull && publicPull)
        {
            return token;
        }

        // Push and admin imply pull: a CI token that may push may also read back what it pushed.
        var effective = token.Scopes.HasFlag(TokenScopes.Push) || token.Scopes.HasFlag(TokenScopes.Admin)
            ? token.Scopes | TokenScopes.Pull
            : token.Scopes;
        if (!TokenService.Allows(token with { Scopes = effective }, cacheName, needed))
        {
            throw new CacheException(CacheError.Forbidden,
                $"token {token.Id} (scopes {TokenScopeNames.Format(token.Scopes)} on '{token.CachePattern}') may not {TokenScopeNames.Format(needed)} on '{cacheName}'");
        }

        return token;
    }

    internal static string? ExtractSecret(string header)
    {
        const string bearer = "Bearer ";
        const string basic = "Basic ";
        if (header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            return header[bearer.Length..].Trim();
        }

        if (!header.StartsWith(basic, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        Span<byte> decoded = stackalloc byte[512];
        if (!Convert.TryFromBase64String(header[basic.Length..].Trim(), decoded, out var n))
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(decoded[..n]);
        var colon = text.IndexOf(':');
        return colon < 0 ? null : text[(colon + 1)..];
    }
}
