using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Auth;

/// <summary>
/// Checks the token of a request against what a route needs. Tokens come as <c>Authorization: Bearer T</c>
/// or as the password of Basic credentials (what Nix sends from a netrc file). Pulling from a public cache
/// needs no token; everything else does.
/// <para>
/// The rule every front door follows (<see cref="FindAsync"/>, <see cref="AuthorizeAsync"/>): credentials that are
/// malformed, unknown, revoked or expired are 401 whatever cache is named (they say nothing about it). A caller who may
/// not discover a cache (anonymous on a private cache, or a token whose pattern does not cover it) is told exactly
/// what it would be told if the cache did not exist: the cache is reported as absent (null) and each route answers
/// its own "not found". A caller who sees the cache but lacks the scope: 401 without a token, 403 with one.
/// </para>
/// </summary>
public sealed class RequestAuthorizer
{
    private readonly TokenService _tokens;
    private readonly CacheCatalog _catalog;

    public RequestAuthorizer(TokenService tokens, CacheCatalog catalog)
    {
        _tokens = tokens;
        _catalog = catalog;
    }

    /// <summary>The answer to a request for a cache that does not exist, or that the caller may not discover.</summary>
    public static CacheException NoSuchCache(string name) => CacheException.NotFound($"no cache named {ClientText.Quote(name)}");

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
        if (LooksLikeJwt(secret))
        {
            // A CI job's ID token is never looked up as a flywheel token: it is exchanged for one first.
            throw new CacheException(CacheError.Unauthenticated, "an OIDC ID token is not a flywheel token: exchange it at POST /_api/v1/auth/oidc (flywheel login)");
        }

        return await _tokens.AuthenticateAsync(secret, context.RequestAborted)
            ?? throw new CacheException(CacheError.Unauthenticated, "the token is unknown, revoked or expired");
    }

    /// <summary>The request's live token; throws when it sent none or one that is not live.</summary>
    public async ValueTask<TokenRecord> RequireAuthenticatedAsync(HttpContext context) =>
        await AuthenticateAsync(context) ?? throw new CacheException(CacheError.Unauthenticated, "this needs a token");

    /// <summary>
    /// The request's live token when it has <paramref name="needed"/> on some caches; for routes that check this before
    /// reading a body that names the cache (the cache is checked once the body is read). Says nothing about any cache.
    /// </summary>
    public async ValueTask<TokenRecord> RequireScopeAsync(HttpContext context, TokenScopes needed)
    {
        var token = await AuthenticateAsync(context)
            ?? throw new CacheException(CacheError.Unauthenticated, $"this needs a token with {TokenScopeNames.Format(needed)}");
        return (Effective(token.Scopes) & needed) == needed
            ? token
            : throw new CacheException(CacheError.Forbidden, $"token {token.Id} (scopes {TokenScopeNames.Format(token.Scopes)}) may not {TokenScopeNames.Format(needed)}");
    }

    /// <summary>The cache named <paramref name="name"/> when the request may do <paramref name="needed"/> on it; throws <see cref="NoSuchCache"/> when it does not exist or the caller may not discover it.</summary>
    public async ValueTask<CacheContext> ResolveAsync(HttpContext context, string name, TokenScopes needed) =>
        await FindAsync(context, name, needed) ?? throw NoSuchCache(name);

    /// <summary>
    /// The cache named <paramref name="name"/> when the request may do <paramref name="needed"/> on it; null when it
    /// does not exist or the caller may not discover it (the caller answers "not found" for both alike). Throws 401
    /// for dead credentials, and 401/403 for a cache the caller sees but may not do <paramref name="needed"/> on.
    /// </summary>
    public ValueTask<CacheContext?> FindAsync(HttpContext context, string name, TokenScopes needed)
    {
        if (context.Request.Headers.Authorization.Count == 0)
        {
            // The hot path: anonymous reads answered from the catalog's memory without an async state machine.
            var lookup = _catalog.FindAsync(name, context.RequestAborted);
            return lookup.IsCompletedSuccessfully ? ValueTask.FromResult(AuthorizeAnonymous(lookup.Result, needed)) : FindAnonymousAsync(lookup, needed);
        }

        return FindWithTokenAsync(context, name, needed);
    }

    /// <summary>Like <see cref="FindAsync"/> for a cache already looked up (null: it does not exist).</summary>
    public ValueTask<CacheContext?> AuthorizeAsync(HttpContext context, CacheContext? cache, TokenScopes needed) =>
        context.Request.Headers.Authorization.Count == 0
            ? ValueTask.FromResult(AuthorizeAnonymous(cache, needed))
            : AuthorizeWithTokenAsync(context, cache, needed);

    private static async ValueTask<CacheContext?> FindAnonymousAsync(ValueTask<CacheContext?> lookup, TokenScopes needed) =>
        AuthorizeAnonymous(await lookup, needed);

    private async ValueTask<CacheContext?> FindWithTokenAsync(HttpContext context, string name, TokenScopes needed)
    {
        var token = await RequireAuthenticatedAsync(context); // dead credentials: 401 before the cache is looked at
        return Authorize(token, await _catalog.FindAsync(name, context.RequestAborted), needed);
    }

    private async ValueTask<CacheContext?> AuthorizeWithTokenAsync(HttpContext context, CacheContext? cache, TokenScopes needed) =>
        Authorize(await RequireAuthenticatedAsync(context), cache, needed);

    private static CacheContext? AuthorizeAnonymous(CacheContext? cache, TokenScopes needed)
    {
        if (cache is null || !cache.Record.IsPublic)
        {
            return null;
        }

        return needed == TokenScopes.Pull
            ? cache
            : throw new CacheException(CacheError.Unauthenticated, $"this needs a token with {TokenScopeNames.Format(needed)} on '{cache.Name}'");
    }

    private static CacheContext? Authorize(TokenRecord token, CacheContext? cache, TokenScopes needed)
    {
        if (cache is null || !(cache.Record.IsPublic || MayDiscover(token, cache.Name)))
        {
            return null;
        }

        if (!(needed == TokenScopes.Pull && cache.Record.IsPublic))
        {
            RequireScopes(token, cache.Name, needed);
        }

        return cache;
    }

    /// <summary>Whether the token may learn that the cache exists: any scope on a pattern that covers it.</summary>
    private static bool MayDiscover(TokenRecord token, string cacheName) =>
        token.Scopes != TokenScopes.None && CachePattern.Matches(token.CachePattern, cacheName);

    /// <summary>
    /// Throws unless the request's token has <paramref name="needed"/> on caches matching <paramref name="cacheName"/>;
    /// for routes whose cache need not exist (creating one), where the answer depends on the name only.
    /// </summary>
    public async ValueTask<TokenRecord> RequireTokenAsync(HttpContext context, string cacheName, TokenScopes needed)
    {
        var token = await AuthenticateAsync(context)
            ?? throw new CacheException(CacheError.Unauthenticated, $"this needs a token with {TokenScopeNames.Format(needed)} on {ClientText.Quote(cacheName)}");
        RequireScopes(token, cacheName, needed);
        return token;
    }

    /// <summary>Throws 403 unless <paramref name="token"/> has <paramref name="needed"/> on caches matching <paramref name="cacheName"/>.</summary>
    public static void RequireScopes(TokenRecord token, string cacheName, TokenScopes needed)
    {
        if (!Allows(token, cacheName, needed))
        {
            throw new CacheException(CacheError.Forbidden,
                $"token {token.Id} (scopes {TokenScopeNames.Format(token.Scopes)} on '{token.CachePattern}') may not {TokenScopeNames.Format(needed)} on {ClientText.Quote(cacheName)}");
        }
    }

    /// <summary>
    /// Whether <paramref name="token"/> (null: anonymous) may read <paramref name="cache"/>; routes that list caches
    /// leave out the ones it may not, as if they did not exist.
    /// </summary>
    public static bool MayRead(TokenRecord? token, CacheRecord cache) =>
        cache.IsPublic || (token is not null && Allows(token, cache.Name, TokenScopes.Pull));

    /// <summary>Whether <paramref name="token"/> has <paramref name="needed"/> on <paramref name="cacheName"/> (push and admin imply pull).</summary>
    public static bool Allows(TokenRecord token, string cacheName, TokenScopes needed) =>
        TokenService.Allows(token with { Scopes = Effective(token.Scopes) }, cacheName, needed);

    /// <summary>Push and admin imply pull: a CI token that may push may also read back what it pushed.</summary>
    private static TokenScopes Effective(TokenScopes scopes) =>
        scopes.HasFlag(TokenScopes.Push) || scopes.HasFlag(TokenScopes.Admin) ? scopes | TokenScopes.Pull : scopes;

    /// <summary>The credential of a <c>Bearer</c> header, or null for any other kind.</summary>
    internal static string? ExtractBearer(string header) =>
        header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? ExtractSecret(header) : null;

    /// <summary>Three dot-separated parts, the first a base64url JSON object (<c>eyJ</c>): a JWT, never one of our tokens (<c>fw1_…</c>).</summary>
    private static bool LooksLikeJwt(string secret) =>
        secret.StartsWith("eyJ", StringComparison.Ordinal) && secret.AsSpan().Count('.') == 2;

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
