using System.Security.Cryptography;
using System.Text;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tokens;

/// <summary>
/// Issues, checks and revokes access tokens. A token is a random secret shown once; the index keeps only its
/// SHA-256 (the secret has 256 bits of entropy, so a plain hash is as strong as a slow one here).
/// Checked tokens are remembered for <see cref="AuthCacheTtl"/> so the hot paths do not ask the index per request;
/// a revocation through this instance takes effect at once, through another gateway within that time.
/// </summary>
public sealed class TokenService
{
    public const string SecretPrefix = "fw1_";
    public static readonly TimeSpan AuthCacheTtl = TimeSpan.FromSeconds(10);

    private readonly ICacheStore _caches;
    private readonly TimeProvider _time;
    private readonly ExpiringLookup<BlobDigest, TokenRecord?> _checked; // by secret hash; bounded against floods of random secrets

    public TokenService(ICacheStore caches, TimeProvider time)
    {
        _caches = caches;
        _time = time;
        _checked = new ExpiringLookup<BlobDigest, TokenRecord?>(AuthCacheTtl, time, maxEntries: 100_000);
    }

    public async Task<(TokenRecord Token, string Secret)> CreateAsync(
        string cachePattern, TokenScopes scopes, TimeSpan? ttl, string? description, CancellationToken cancellationToken)
    {
        if (!CachePattern.IsValid(cachePattern))
        {
            throw CacheException.Invalid($"{ClientText.Quote(cachePattern)} is not a valid cache pattern: use cache-name characters and the wildcards * and ?");
        }

        if (scopes == TokenScopes.None)
        {
            throw CacheException.Invalid("a token needs at least one scope");
        }

        if (ttl is { } t && t <= TimeSpan.Zero)
        {
            throw CacheException.Invalid("a token's time to live must be positive");
        }

        var secret = SecretPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var id = "tok_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var now = _time.GetUtcNow();
        var token = new TokenRecord(id, HashSecret(secret), cachePattern, scopes, description, now, now + ttl, null);
        await _caches.CreateTokenAsync(token, cancellationToken).ConfigureAwait(false);
        return (token, secret);
    }

    /// <summary>The live token with this secret, or null when it is unknown, revoked or expired.</summary>
    public ValueTask<TokenRecord?> AuthenticateAsync(string secret, CancellationToken cancellationToken)
    {
        if (secret.Length is 0 or > 256)
        {
            return ValueTask.FromResult<TokenRecord?>(null);
        }

        return CheckAsync(HashSecret(secret), cancellationToken);
    }

    private async ValueTask<TokenRecord?> CheckAsync(BlobDigest hash, CancellationToken cancellationToken)
    {
        var token = await _checked.GetAsync(hash, _caches, static (h, caches) => caches.FindTokenAsync(h, CancellationToken.None), cancellationToken)
            .ConfigureAwait(false);
        return IsLive(token) ? token : null;
    }

    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken)
    {
        var revoked = await _caches.RevokeTokenAsync(id, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        Forget([id]);
        return revoked;
    }

    /// <summary>
    /// Drops tokens revoked elsewhere in the index (e.g. with the trust policy that minted them) from what this
    /// instance remembers, so they stop working here at once.
    /// </summary>
    public void Forget(IReadOnlyCollection<string> ids)
    {
        if (ids.Count > 0)
        {
            _checked.RemoveWhere(token => token is not null && ids.Contains(token.Id));
        }
    }

    public Task<IReadOnlyList<TokenRecord>> ListAsync(CancellationToken cancellationToken) => _caches.ListTokensAsync(cancellationToken);

    /// <summary>Whether the token grants every scope in <paramref name="needed"/> on the named cache.</summary>
    public static bool Allows(TokenRecord token, string cacheName, TokenScopes needed) =>
        (token.Scopes & needed) == needed && CachePattern.Matches(token.CachePattern, cacheName);

    public static BlobDigest HashSecret(string secret)
    {
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(secret.Length)];
        var n = Encoding.UTF8.GetBytes(secret, utf8);
        return BlobDigest.Compute(utf8[..n]);
    }

    private bool IsLive(TokenRecord? token) =>
        token is not null && token.RevokedAt is null && (token.ExpiresAt is null || token.ExpiresAt > _time.GetUtcNow());

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

}
