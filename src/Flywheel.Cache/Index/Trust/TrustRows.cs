using System.Data.Common;
using System.Globalization;
using System.Text.Json;

namespace Flywheel.Cache.Index.Trust;

/// <summary>Reading and writing trust rows, the same for both dialects (claims as JSON text).</summary>
internal static class TrustRows
{
    public const string PolicyColumns = "id, cache_id, issuer, audience, claims, scopes, ttl_seconds, created_at";

    public const string IdentityColumns = "token_id, issuer, subject, policy_id, claims";

    public static string ClaimRulesJson(IReadOnlyList<ClaimRule> rules) =>
        JsonSerializer.Serialize(rules.Select(r => new[] { r.Name, r.Glob }));

    public static string ClaimsJson(IReadOnlyDictionary<string, string> claims) =>
        JsonSerializer.Serialize(new SortedDictionary<string, string>(claims.ToDictionary(), StringComparer.Ordinal));

    /// <summary>id, cache_id, issuer, audience, claims, scopes, ttl_seconds, created_at</summary>
    public static TrustPolicyRecord Policy(DbDataReader reader) => new(
        Id: reader.GetString(0),
        CacheId: reader.GetInt64(1),
        Issuer: reader.GetString(2),
        Audience: reader.GetString(3),
        Claims: (JsonSerializer.Deserialize<string[][]>(reader.GetString(4)) ?? []).Select(p => new ClaimRule(p[0], p[1])).ToList(),
        Scopes: (TokenScopes)Convert.ToInt64(reader.GetValue(5), CultureInfo.InvariantCulture), // INTEGER or int4, by dialect
        Ttl: TimeSpan.FromSeconds(reader.GetInt64(6)),
        CreatedAt: IndexRows.FromUnix(reader.GetInt64(7)));

    /// <summary>token_id, issuer, subject, policy_id, claims</summary>
    public static TokenIdentityRecord Identity(DbDataReader reader) => new(
        TokenId: reader.GetString(0),
        Issuer: reader.GetString(1),
        Subject: reader.GetString(2),
        PolicyId: reader.GetString(3),
        Claims: JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(4)) ?? []);
}
