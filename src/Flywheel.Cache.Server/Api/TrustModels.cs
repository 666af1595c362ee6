using Flywheel.Cache.Index.Trust;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Api;

/// <param name="Claims">Claim rules <c>NAME=GLOB</c>, all of which must match, e.g. <c>repository=org/*</c>.</param>
/// <param name="Scopes">Comma-separated: pull, push, promote.</param>
/// <param name="Ttl">Lifetime of minted tokens, e.g. 1h (the default); never past the ID token's own expiry.</param>
public sealed record AddTrustPolicyRequest(string Issuer, string Audience, IReadOnlyList<string>? Claims, string Scopes, string? Ttl = null);

/// <summary>A trust policy as the API shows it.</summary>
public sealed record TrustPolicyView(
    string Id, string Issuer, string Audience, IReadOnlyList<string> Claims, IReadOnlyList<string> Scopes, string Ttl, DateTimeOffset CreatedAt)
{
    public static TrustPolicyView From(TrustPolicyRecord p) => new(
        p.Id, p.Issuer, p.Audience, p.Claims.Select(c => $"{c.Name}={c.Glob}").ToList(), TokenScopeNames.ToList(p.Scopes), Durations.Format(p.Ttl), p.CreatedAt);
}

/// <summary><c>POST /_api/v1/auth/oidc</c>'s optional body: the cache to get a token for (absent: the first cache whose policy matches).</summary>
public sealed record OidcExchangeRequest(string? Cache = null);
