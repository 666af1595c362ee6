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

/// <summary>An upstream of a cache as the API shows it (never its token).</summary>
public sealed record UpstreamView(
    string Url, int Priority, IReadOnlyList<string> TrustedKeys, bool HasToken, double TimeoutSeconds, DateTimeOffset CreatedAt)
{
    public static UpstreamView From(UpstreamRecord u) =>
        new(u.Url, u.Priority, u.TrustedKeys, u.Token is not null, u.Timeout.TotalSeconds, u.CreatedAt);
}

/// <param name="TrustedKeys">Public keys (<c>name:base64</c>) the upstream's narinfos must be signed by; at least one.</param>
/// <param name="Priority">Lower is asked first; default 50.</param>
/// <param name="Token">Sent to the upstream as a Bearer token (Attic).</param>
/// <param name="Timeout">Per request, e.g. 10s; default 10s.</param>
public sealed record AddUpstreamRequest(string Url, IReadOnlyList<string> TrustedKeys, int? Priority = null, string? Token = null, string? Timeout = null);
