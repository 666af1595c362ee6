using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Trust;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Tokens;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Flywheel.Cache.Server.Auth.Oidc;

/// <summary>A token minted by an exchange: the secret (shown once), when it expires, its cache and scopes.</summary>
public sealed record OidcExchangeAnswer(string Token, DateTimeOffset ExpiresAt, string Cache, IReadOnlyList<string> Scopes);

/// <summary>
/// Exchanges a CI job's OIDC ID token for an ordinary flywheel token. The JWT is checked in this order, each refusal
/// a 401 naming the check (never echoing the token): its shape, its algorithm (RS256 and ES256 only: <c>none</c>
/// and HMAC, which an attacker could sign with the issuer's public key, are refused before any key is looked at),
/// its issuer (one some trust policy names; no other issuer is ever fetched), its key (by <c>kid</c>, fetching the
/// issuer's JWKS again once when unknown), its signature, expiry, not-before and audience (with
/// <see cref="ClockSkew"/>). Only then is the body read (which cache), and the trust policies of that issuer and
/// audience are matched against the token's claims; the first that matches (oldest first) grants its scopes on its
/// cache for its ttl, cut to the JWT's own expiry. The minted token is recorded with the issuer, subject and the
/// source claims (<see cref="VerifiedIdentity.SourceClaims"/> and those the policy matched).
/// </summary>
public sealed class OidcExchange
{
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);
    private const int MaxJwtLength = 16 * 1024;
    private static readonly string[] Algorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256];

    private readonly TrustPolicyCatalog _policies;
    private readonly OidcIssuers _issuers;
    private readonly TokenService _tokens;
    private readonly ITrustStore _store;
    private readonly CacheCatalog _catalog;
    private readonly TimeProvider _time;
    private readonly FlywheelMetrics _metrics;
    private readonly ILogger<OidcExchange> _logger;
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    public OidcExchange(
        TrustPolicyCatalog policies, OidcIssuers issuers, TokenService tokens, ITrustStore store, CacheCatalog catalog, TimeProvider time,
        FlywheelMetrics metrics, ILogger<OidcExchange> logger)
    {
        _policies = policies;
        _issuers = issuers;
        _tokens = tokens;
        _store = store;
        _catalog = catalog;
        _time = time;
        _metrics = metrics;
        _logger = logger;
    }

    /// <param name="jwt">The bearer credential the request sent (null: none).</param>
    /// <param name="readCache">Reads the request body's cache name (null: none named); called only once the JWT is verified.</param>
    public async Task<OidcExchangeAnswer> ExchangeAsync(string? jwt, Func<Task<string?>> readCache, CancellationToken cancellationToken)
    {
        var attempt = new Attempt();
        try
        {
            var answer = await ExchangeAsync(attempt, jwt, readCache, cancellationToken).ConfigureAwait(false);
            attempt.Result = "ok";
            return answer;
        }
        catch (CacheException e) when (attempt.Result is null)
        {
            attempt.Result = e.Error == CacheError.Unavailable ? "unavailable" : "error";
            throw;
        }
        finally
        {
            _metrics.RecordOidcExchange(attempt.MetricIssuer, attempt.Result ?? "error");
            _logger.LogInformation("OIDC exchange from issuer {Issuer} for subject {Subject} on cache {Cache}: {Result}",
                attempt.Issuer ?? "-", attempt.Subject ?? "-", attempt.Cache ?? "-", attempt.Result ?? "error");
        }
    }

    private async Task<OidcExchangeAnswer> ExchangeAsync(Attempt attempt, string? jwt, Func<Task<string?>> readCache, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(jwt))
        {
            throw Refuse(attempt, "malformed", "send the CI job's OIDC ID token as 'Authorization: Bearer <jwt>'");
        }

        if (jwt.Length > MaxJwtLength || !_handler.CanReadToken(jwt))
        {
            throw Refuse(attempt, "malformed", "malformed: the bearer credential is not a signed JWT");
        }

        JsonWebToken token;
        try
        {
            token = _handler.ReadJsonWebToken(jwt);
        }
        catch (ArgumentException)
        {
            throw Refuse(attempt, "malformed", "malformed: the bearer credential is not a signed JWT");
        }

        if (string.IsNullOrEmpty(token.Alg) || string.Equals(token.Alg, "none", StringComparison.OrdinalIgnoreCase))
        {
            throw Refuse(attempt, "bad_algorithm", "alg none: unsigned tokens are refused");
        }

        if (!Algorithms.Contains(token.Alg, StringComparer.Ordinal))
        {
            throw Refuse(attempt, "bad_algorithm", $"algorithm {ClientText.Quote(token.Alg)} is refused: only RS256 and ES256 are accepted");
        }

        var issuer = TryNormalize(token.Issuer);
        attempt.Issuer = ClientText.Cut(token.Issuer);
        var all = await _policies.ListAllAsync(ct).ConfigureAwait(false);
        var trusted = issuer is null ? [] : all.Where(p => p.Issuer == issuer).ToList();
        if (trusted.Count == 0)
        {
            throw Refuse(attempt, "wrong_issuer", $"wrong issuer: no trust policy names issuer {ClientText.Quote(token.Issuer)}");
        }

        attempt.MetricIssuer = issuer!;
        var keys = await KeysForAsync(attempt, issuer!, token, ct).ConfigureAwait(false);
        var result = await _handler.ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            ValidIssuers = [issuer, issuer + "/"],
            ValidAudiences = trusted.Select(p => p.Audience).Distinct(StringComparer.Ordinal),
            IssuerSigningKeys = keys,
            TryAllIssuerSigningKeys = string.IsNullOrEmpty(token.Kid),
            ValidAlgorithms = Algorithms,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = ClockSkew,
            LifetimeValidator = null,
        }).ConfigureAwait(false);
        if (!result.IsValid)
        {
            throw Refuse(attempt, result.Exception);
        }

        attempt.Subject = ClientText.Cut(token.Subject);
        var requested = await readCache().ConfigureAwait(false);
        attempt.Cache = requested is null ? null : ClientText.Cut(requested);
        var caches = (await _catalog.ListAsync(ct).ConfigureAwait(false)).ToDictionary(c => c.Id, c => c.Name);
        var candidates = trusted
            .Where(p => caches.ContainsKey(p.CacheId) && (requested is null || caches[p.CacheId] == requested))
            .Where(p => token.Audiences.Contains(p.Audience, StringComparer.Ordinal))
            .ToList();
        var policy = candidates.FirstOrDefault(p => p.Claims.All(rule => Matches(token, rule)));
        if (policy is null)
        {
            var why = candidates.Count == 0
                ? $"no trust policy of this issuer and audience is for {(requested is null ? "any cache" : "cache " + ClientText.Quote(requested))}"
                : string.Join("; ", candidates.Select(p => $"{p.Id}: {Mismatch(token, p)}"));
            throw Refuse(attempt, "no_matching_policy", $"no trust policy's claims match: {why}");
        }

        var cacheName = caches[policy.CacheId];
        attempt.Cache = cacheName;
        var now = _time.GetUtcNow();
        var ttl = policy.Ttl < token.ValidTo - now ? policy.Ttl : token.ValidTo - now;
        if (ttl <= TimeSpan.Zero)
        {
            throw Refuse(attempt, "expired", "expired: the token's exp has passed");
        }

        var subject = token.Subject ?? "";
        var (minted, secret) = await _tokens.CreateAsync(
            cacheName, policy.Scopes, ttl, ClientText.Cut($"oidc {issuer} {subject}"), ct).ConfigureAwait(false);
        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in VerifiedIdentity.SourceClaims.Concat(policy.Claims.Select(r => r.Name)))
        {
            if (ClaimText(token, name) is { } value)
            {
                claims[name] = ClientText.Cut(value);
            }
        }

        if (!await _store.PutTokenIdentityAsync(new TokenIdentityRecord(minted.Id, issuer!, ClientText.Cut(subject), policy.Id, claims), ct).ConfigureAwait(false))
        {
            await _tokens.RevokeAsync(minted.Id, ct).ConfigureAwait(false);
            throw Refuse(attempt, "no_matching_policy", $"trust policy {policy.Id} was removed while the token was exchanged");
        }

        return new OidcExchangeAnswer(secret, minted.ExpiresAt ?? now + ttl, cacheName, TokenScopeNames.ToList(policy.Scopes));
    }

    /// <summary>The issuer's keys; when the token names a key they lack, fetched again once (rate-limited) before it is refused.</summary>
    private async Task<ICollection<SecurityKey>> KeysForAsync(Attempt attempt, string issuer, JsonWebToken token, CancellationToken ct)
    {
        var keys = await _issuers.GetKeysAsync(issuer, ct).ConfigureAwait(false);
        if (string.IsNullOrEmpty(token.Kid) || keys.Any(k => k.KeyId == token.Kid))
        {
            return keys;
        }

        keys = await _issuers.RefreshKeysAsync(issuer, ct).ConfigureAwait(false);
        return keys.Any(k => k.KeyId == token.Kid)
            ? keys
            : throw Refuse(attempt, "unknown_key", $"unknown key: issuer {issuer} publishes no key {ClientText.Quote(token.Kid)}");
    }

    private static bool Matches(JsonWebToken token, ClaimRule rule) =>
        ClaimText(token, rule.Name) is { } value && CachePattern.Matches(rule.Glob, value);

    private static string Mismatch(JsonWebToken token, TrustPolicyRecord policy)
    {
        var failed = policy.Claims.First(rule => !Matches(token, rule));
        return ClaimText(token, failed.Name) is { } value
            ? $"claim {failed.Name} is {ClientText.Quote(value)}, not {failed.Glob}"
            : $"the token has no string claim {failed.Name}";
    }

    private static string? ClaimText(JsonWebToken token, string name) =>
        token.TryGetPayloadValue<object>(name, out var value) && value is string or long or int or bool or double
            ? Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)
            : null;

    private static string? TryNormalize(string? issuer)
    {
        if (string.IsNullOrEmpty(issuer))
        {
            return null;
        }

        try
        {
            return TrustPolicyCatalog.NormalizeIssuer(issuer);
        }
        catch (CacheException)
        {
            return null; // not an issuer any policy could name: refused as "wrong issuer" by the caller
        }
    }

    private static CacheException Refuse(Attempt attempt, Exception? failure) => failure switch
    {
        SecurityTokenExpiredException => Refuse(attempt, "expired", "expired: the token's exp has passed"),
        SecurityTokenNotYetValidException => Refuse(attempt, "not_yet_valid", "not yet valid: the token's nbf is in the future"),
        SecurityTokenNoExpirationException => Refuse(attempt, "expired", "the token has no exp"),
        SecurityTokenInvalidAudienceException => Refuse(attempt, "wrong_audience", "wrong audience: no trust policy of this issuer is for the token's aud"),
        SecurityTokenInvalidIssuerException => Refuse(attempt, "wrong_issuer", "wrong issuer: the token's iss is not the trusted issuer"),
        SecurityTokenInvalidAlgorithmException => Refuse(attempt, "bad_algorithm", "algorithm refused: only RS256 and ES256 are accepted"),
        SecurityTokenSignatureKeyNotFoundException => Refuse(attempt, "unknown_key", "unknown key: the issuer publishes no key that verifies the token"),
        SecurityTokenInvalidSignatureException => Refuse(attempt, "bad_signature", "bad signature: the token's signature does not verify with the issuer's key"),
        _ => Refuse(attempt, "malformed", $"the token is not valid ({failure?.GetType().Name ?? "unknown reason"})"),
    };

    private static CacheException Refuse(Attempt attempt, string result, string reason)
    {
        attempt.Result = result;
        return new CacheException(CacheError.Unauthenticated, "OIDC token refused: " + reason);
    }

    /// <summary>What one exchange's metric and log line say.</summary>
    private sealed class Attempt
    {
        public string? Issuer { get; set; }

        /// <summary>An issuer some policy names (a bounded set), or <c>other</c>.</summary>
        public string MetricIssuer { get; set; } = "other";

        public string? Subject { get; set; }

        public string? Cache { get; set; }

        public string? Result { get; set; }
    }
}
