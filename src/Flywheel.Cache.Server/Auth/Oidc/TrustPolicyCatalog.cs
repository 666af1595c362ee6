using System.Net;
using System.Security.Cryptography;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Trust;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Auth.Oidc;

/// <summary>
/// Per-cache OIDC trust policies: which issuer and audience, and which claims (<c>NAME=GLOB</c>), may exchange a CI
/// job's ID token for a token with scopes pull, push and promote. Issuers are <c>https://</c>, or <c>http://</c> on a
/// loopback address (local set-ups and tests); only issuers named here are ever fetched.
/// </summary>
public sealed class TrustPolicyCatalog
{
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(1);
    private const TokenScopes Allowed = TokenScopes.Pull | TokenScopes.Push | TokenScopes.Promote;
    private const int MaxClaims = 16;

    private readonly ITrustStore _store;
    private readonly TokenService _tokens;
    private readonly TimeProvider _time;

    public TrustPolicyCatalog(ITrustStore store, TokenService tokens, TimeProvider time)
    {
        _store = store;
        _tokens = tokens;
        _time = time;
    }

    public async Task<TrustPolicyRecord> AddAsync(
        CacheContext cache, string issuer, string audience, IReadOnlyList<string> claims, string scopes, string? ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var normalized = NormalizeIssuer(issuer);
        if (string.IsNullOrWhiteSpace(audience) || audience.Length > 256)
        {
            throw CacheException.Invalid("a trust policy needs an audience (1 to 256 characters), e.g. flywheel");
        }

        if (claims.Count > MaxClaims)
        {
            throw CacheException.Invalid($"a trust policy has at most {MaxClaims} claim rules");
        }

        var rules = claims.Select(ParseClaim).ToList();
        var parsedScopes = TokenScopeNames.Parse(scopes ?? "");
        if (parsedScopes == TokenScopes.None || (parsedScopes & ~Allowed) != 0)
        {
            throw CacheException.Invalid($"a trust policy grants pull, push and promote only, at least one, not {ClientText.Quote(scopes)}");
        }

        var lifetime = ttl is { Length: > 0 } t ? Durations.Parse(t) : DefaultTtl;
        if (lifetime > MaxTtl || lifetime < TimeSpan.FromMinutes(1))
        {
            throw CacheException.Invalid($"a trust policy's ttl is 1m to {Durations.Format(MaxTtl)}, not {ClientText.Quote(ttl)}");
        }

        var now = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        var policy = new TrustPolicyRecord(
            "trust_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), cache.Id, normalized, audience, rules, parsedScopes, lifetime, now);
        await _store.AddTrustPolicyAsync(policy, cancellationToken).ConfigureAwait(false);
        return policy;
    }

    public Task<IReadOnlyList<TrustPolicyRecord>> ListAsync(CacheContext cache, CancellationToken cancellationToken) =>
        _store.ListTrustPoliciesAsync(cache.Id, cancellationToken);

    /// <summary>Every policy of every cache (what an exchange matches against).</summary>
    public Task<IReadOnlyList<TrustPolicyRecord>> ListAllAsync(CancellationToken cancellationToken) =>
        _store.ListTrustPoliciesAsync(null, cancellationToken);

    /// <summary>
    /// Removes a policy and revokes the live tokens it minted (CI jobs holding one lose access now, not when it
    /// expires); how many were revoked. Other gateways stop accepting them within <see cref="TokenService.AuthCacheTtl"/>.
    /// </summary>
    public async Task<int> RemoveAsync(CacheContext cache, string id, CancellationToken cancellationToken)
    {
        var revoked = await _store.RemoveTrustPolicyAsync(cache.Id, id, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"cache '{cache.Name}' has no trust policy {ClientText.Quote(id)}");
        _tokens.Forget(revoked);
        return revoked.Count;
    }

    /// <summary>The issuer as policies keep it (no trailing slash); throws unless https, or http on loopback.</summary>
    public static string NormalizeIssuer(string issuer)
    {
        if (string.IsNullOrWhiteSpace(issuer) || issuer.Length > 512 || !Uri.TryCreate(issuer.Trim(), UriKind.Absolute, out var uri)
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            throw CacheException.Invalid($"issuer {ClientText.Quote(issuer)} is not an absolute URL without query, fragment or credentials");
        }

        var secure = uri.Scheme == Uri.UriSchemeHttps;
        var loopback = uri.Scheme == Uri.UriSchemeHttp && (uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)));
        if (!secure && !loopback)
        {
            throw CacheException.Invalid($"issuer {ClientText.Quote(issuer)} must be https:// (http:// only on a loopback address)");
        }

        return issuer.Trim().TrimEnd('/');
    }

    private static ClaimRule ParseClaim(string text)
    {
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || equals == text.Length - 1 || text.Length > 512)
        {
            throw CacheException.Invalid($"claim rule {ClientText.Quote(text)} is not NAME=GLOB (e.g. repository=org/*)");
        }

        var name = text[..equals].Trim();
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':'))
            {
                throw CacheException.Invalid($"claim name {ClientText.Quote(name)} has a character other than letters, digits, '_', '-', '.', ':'");
            }
        }

        return new ClaimRule(name, text[(equals + 1)..]);
    }
}
