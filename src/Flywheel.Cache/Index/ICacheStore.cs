using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>Caches and the tokens that reach them.</summary>
public interface ICacheStore
{
    /// <summary>Creates a cache; <see cref="CacheError.Conflict"/> when the name is taken. Id and CreatedAt of the argument are ignored.</summary>
    Task<CacheRecord> CreateCacheAsync(CacheRecord cache, CancellationToken cancellationToken);

    Task<CacheRecord?> GetCacheAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<CacheRecord>> ListCachesAsync(CancellationToken cancellationToken);

    /// <summary>Updates IsPublic, Priority, Retention and QuotaBytes of an existing cache.</summary>
    Task<CacheRecord> UpdateCacheAsync(CacheRecord cache, CancellationToken cancellationToken);

    Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken);

    Task<TokenRecord?> FindTokenAsync(BlobDigest secretHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken);

    /// <summary>Marks a token revoked; returns false when there is no such token.</summary>
    Task<bool> RevokeTokenAsync(string id, DateTimeOffset when, CancellationToken cancellationToken);
}
