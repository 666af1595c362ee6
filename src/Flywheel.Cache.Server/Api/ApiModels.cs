using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <summary>A cache as the API shows it (never its secret key).</summary>
/// <param name="Retention">How long Nix paths are kept after their last access (e.g. <c>30d</c>); null: kept.</param>
/// <param name="Quota">The most CAS bytes the cache may use (e.g. <c>50GiB</c>); null: no quota.</param>
/// <param name="Usage">What the cache holds; shown for a single cache, not in lists.</param>
public sealed record CacheView(
    string Name, bool Public, int Priority, string StoreDir, string PublicKey, DateTimeOffset CreatedAt,
    string? Retention = null, string? Quota = null, long? QuotaBytes = null, CacheUsage? Usage = null)
{
    public static CacheView From(CacheRecord r) => From(r, null);

    public static CacheView From(CacheRecord r, CacheUsage? usage) => new(
        r.Name, r.IsPublic, r.Priority, r.StoreDir, r.PublicKey, r.CreatedAt,
        r.Retention is { } retention ? Durations.Format(retention) : null,
        r.QuotaBytes is { } quota ? ByteSizes.Format(quota) : null,
        r.QuotaBytes,
        usage);
}

/// <param name="Retention">e.g. <c>30d</c>; absent: Nix paths are kept.</param>
/// <param name="Quota">e.g. <c>50GiB</c>; absent: no quota.</param>
public sealed record CreateCacheRequest(string Name, bool Public = false, int Priority = 40, string? Retention = null, string? Quota = null)
{
    public CacheChange Settings() => CacheSettingsText.Change(null, null, Retention, Quota);
}

/// <summary>A change of a cache's settings; absent fields stay as they are, <c>off</c> removes a retention or quota.</summary>
public sealed record UpdateCacheRequest(bool? Public = null, int? Priority = null, string? Retention = null, string? Quota = null)
{
    public CacheChange Change() => CacheSettingsText.Change(Public, Priority, Retention, Quota);
}

/// <param name="StorePath">A store path, its base name, or its 32-character hash part.</param>
public sealed record PinRequest(string StorePath, string? Reason = null);

public sealed record PinView(string StorePathHash, string Reason, DateTimeOffset CreatedAt)
{
    public static PinView From(PinRecord p) => new(p.StorePathHash, p.Reason, p.CreatedAt);
}

/// <summary>Retention and quota as users write them: <c>30d</c>, <c>50GiB</c>, and <c>off</c> to remove one.</summary>
internal static class CacheSettingsText
{
    private const string Off = "off";

    public static CacheChange Change(bool? isPublic, int? priority, string? retention, string? quota) => new(
        isPublic,
        priority,
        retention is null ? null : IsOff(retention) ? TimeSpan.Zero : Durations.Parse(retention),
        quota is null ? null : IsOff(quota) ? 0 : ByteSizes.Parse(quota));

    private static bool IsOff(string text) => string.Equals(text.Trim(), Off, StringComparison.OrdinalIgnoreCase);
}

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
