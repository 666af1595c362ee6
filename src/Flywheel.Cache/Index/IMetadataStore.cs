using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// The metadata index: caches, tokens, narinfo records, NAR verification records, auxiliary files, action-cache
/// entries and blob bookkeeping. Implementations: SQLite (embedded default) and PostgreSQL (shared by any number of gateways).
/// Every method is safe to call concurrently, from several gateway processes too.
/// </summary>
public interface IMetadataStore
{
    /// <summary>Applies pending schema migrations (idempotent; safe when several processes start at once).</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Throws <see cref="CacheException"/> with <see cref="CacheError.Unavailable"/> when the index cannot be reached.</summary>
    Task CheckHealthAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Takes the maintenance lock, so that one garbage collector runs at a time across every gateway on this index;
    /// null when another holder has it. Disposing the result releases it (so does the holder's process ending).
    /// </summary>
    Task<IAsyncDisposable?> TryAcquireMaintenanceLockAsync(CancellationToken cancellationToken);

    // ---- settings (small key/value facts, e.g. that the first start's bootstrap happened)

    Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken);

    /// <summary>Sets the value only when the key has none yet; returns whether this call set it.</summary>
    Task<bool> TryAddSettingAsync(string key, string value, CancellationToken cancellationToken);

    // ---- caches

    /// <summary>Creates a cache; <see cref="CacheError.Conflict"/> when the name is taken. Id and CreatedAt of the argument are ignored.</summary>
    Task<CacheRecord> CreateCacheAsync(CacheRecord cache, CancellationToken cancellationToken);

    Task<CacheRecord?> GetCacheAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<CacheRecord>> ListCachesAsync(CancellationToken cancellationToken);

    /// <summary>Updates IsPublic, Priority and Retention of an existing cache.</summary>
    Task<CacheRecord> UpdateCacheAsync(CacheRecord cache, CancellationToken cancellationToken);

    // ---- tokens

    Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken);

    Task<TokenRecord?> FindTokenAsync(BlobDigest secretHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken);

    /// <summary>Marks a token revoked; returns false when there is no such token.</summary>
    Task<bool> RevokeTokenAsync(string id, DateTimeOffset when, CancellationToken cancellationToken);

    // ---- NAR files of a cache (verification records)

    /// <summary>Records a verified NAR file for a cache; an existing record for the same FileHash is kept.</summary>
    Task PutNarFileAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken);

    Task<NarFileRecord?> GetNarFileAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken);

    // ---- narinfo records

    /// <summary>Inserts or replaces the narinfo of a store path in a cache.</summary>
    Task PutNarInfoAsync(long cacheId, NarInfoRecord narInfo, CancellationToken cancellationToken);

    Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken);

    /// <summary>Which of the given store path hashes the cache has, in one query.</summary>
    Task<IReadOnlySet<string>> FindNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, CancellationToken cancellationToken);

    /// <summary>Bumps the last access time of narinfos, in one statement per batch.</summary>
    Task TouchNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset when, CancellationToken cancellationToken);

    // ---- upstream caches (read-through), per cache

    /// <summary>
    /// Adds an upstream to a cache (Id and CreatedAt of the argument are ignored); <see cref="CacheError.Conflict"/> when
    /// the cache has that URL already, <see cref="CacheError.NotFound"/> when there is no such cache.
    /// </summary>
    Task<UpstreamRecord> AddUpstreamAsync(UpstreamRecord upstream, CancellationToken cancellationToken);

    /// <summary>The upstreams of a cache in the order they are asked: priority ascending, then id.</summary>
    Task<IReadOnlyList<UpstreamRecord>> ListUpstreamsAsync(long cacheId, CancellationToken cancellationToken);

    /// <summary>Removes the upstream with that URL (and what was recorded about its NARs); false when there is none.</summary>
    Task<bool> RemoveUpstreamAsync(long cacheId, string url, CancellationToken cancellationToken);

    /// <summary>Records where a NAR of the cache can be fetched from upstream; a record for the same FileHash is replaced.</summary>
    Task PutUpstreamNarAsync(long cacheId, UpstreamNarRecord nar, CancellationToken cancellationToken);

    Task<UpstreamNarRecord?> GetUpstreamNarAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken);

    // ---- auxiliary files (build logs, listings)

    Task PutCacheFileAsync(long cacheId, CacheFileRecord file, CancellationToken cancellationToken);

    Task<CacheFileRecord?> GetCacheFileAsync(long cacheId, string path, CancellationToken cancellationToken);

    // ---- blob bookkeeping (shared by every front door)

    /// <summary>Records that a blob is stored (size, first seen); an existing record is kept and its access bumped.</summary>
    Task RecordBlobAsync(BlobDigest digest, long size, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>Which of the given digests the index does not know, in batched set queries.</summary>
    Task<IReadOnlyList<BlobDigest>> FindMissingBlobsAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken);

    /// <summary>Bumps the last access time of blobs, batched.</summary>
    Task TouchBlobsAsync(IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>
    /// Positions (ascending) in <paramref name="blobs"/> of the blobs the index does not have at that size: unknown
    /// digests, and digests recorded with another size. One statement per batch; a blob asked for twice is reported
    /// at its first position only. The empty blob at size 0 is never missing.
    /// </summary>
    Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken);

    // ---- action cache (Bazel), per cache

    /// <summary>The stored action result bytes for an action hash in a cache, or null.</summary>
    Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces the action result of an action hash in a cache.</summary>
    Task PutActionResultAsync(long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken);
}

/// <summary>A blob digest with the size a client says it has (a REAPI digest, in storage terms).</summary>
public readonly record struct SizedBlob(BlobDigest Digest, long Size);
