using Flywheel.Cache.Index;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <summary>A cache as the API shows it (never its secret key).</summary>
public sealed record CacheView(string Name, bool Public, int Priority, string StoreDir, string PublicKey, DateTimeOffset CreatedAt)
{
    public static CacheView From(CacheRecord r) => new(r.Name, r.IsPublic, r.Priority, r.StoreDir, r.PublicKey, r.CreatedAt);
}

public sealed record CreateCacheRequest(string Name, bool Public = false, int Priority = 40);

/// <summary>A token as the API shows it (never its secret).</summary>
public sealed record TokenView(
    string Id, string Cache, IReadOnlyList<string> Scopes, string? Description,
    DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt)
{
    public static TokenView From(TokenRecord t) =>
        new(t.Id, t.CachePattern, TokenScopeNames.ToList(t.Scopes), t.Description, t.CreatedAt, t.ExpiresAt, t.RevokedAt);
}

/// <param name="Scopes">Comma-separated: pull, push, admin, promote.</param>
/// <param name="Ttl">How long the token lives, e.g. 30d; absent: until revoked.</param>
public sealed record CreateTokenRequest(string Cache, string Scopes, string? Ttl = null, string? Description = null);

/// <summary>A new token: the secret appears here once and is never stored.</summary>
public sealed record CreatedToken(TokenView Token, string Secret);
