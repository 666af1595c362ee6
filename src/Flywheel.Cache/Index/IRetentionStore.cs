using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>What garbage collection, retention and quota eviction read and remove, and the lock that lets one collector run at a time.</summary>
public interface IRetentionStore
{
    /// <summary>
    /// Takes the maintenance lock, so that one garbage collector runs at a time across every gateway on this index;
    /// null when another holder has it. Disposing the result releases it (so does the holder's process ending).
    /// </summary>
    Task<IAsyncDisposable?> TryAcquireMaintenanceLockAsync(CancellationToken cancellationToken);

    /// <summary>What a cache holds: the blobs it uses and their bytes, narinfos, NAR bytes, action results.</summary>
    Task<CacheUsage> GetCacheUsageAsync(long cacheId, CancellationToken cancellationToken);

    /// <summary>
    /// The blobs a cache uses, least recently accessed first (ties by digest), at most <paramref name="limit"/>,
    /// starting after <paramref name="after"/> in that order (null: from the start).
    /// </summary>
    Task<IReadOnlyList<CacheBlobEntry>> ListLeastRecentCacheBlobsAsync(long cacheId, CacheBlobEntry? after, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Stops a cache using the given blobs, each only when its last access is still the one listed (a blob read
    /// meanwhile stays). Returns how many entries and bytes were removed.
    /// </summary>
    Task<RemovedEntries> RemoveCacheBlobsAsync(long cacheId, IReadOnlyList<CacheBlobEntry> entries, CancellationToken cancellationToken);

    /// <summary>Removes a cache's action results not accessed since <paramref name="since"/>.</summary>
    Task<RemovedEntries> RemoveActionResultsAsync(long cacheId, DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>A page of a cache's narinfos as a reference graph (store path hash order, after <paramref name="after"/>).</summary>
    Task<IReadOnlyList<NarInfoNode>> ListNarInfoNodesAsync(long cacheId, string? after, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Removes narinfos of a cache (and their <c>.ls</c> listings), each only when it is not pinned and was not
    /// accessed since <paramref name="since"/>. Returns how many narinfos were removed (bytes: their NARs' FileSize).
    /// </summary>
    Task<RemovedEntries> RemoveNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>Removes a cache's NAR records that no narinfo of the cache names and that were created before <paramref name="before"/>.</summary>
    Task<RemovedEntries> RemoveUnreferencedNarFilesAsync(long cacheId, DateTimeOffset before, CancellationToken cancellationToken);

    /// <summary>
    /// Looks at one page of blob records (digest order, after <paramref name="after"/>, at most <paramref name="limit"/>)
    /// and returns those that nothing references (no cache uses them, no NAR record or cache file names them) and
    /// that were not accessed since <paramref name="since"/>; unless <paramref name="dryRun"/>, their records are
    /// removed in the same statement. <see cref="BlobSweepPage.Next"/> is null after the last page.
    /// </summary>
    Task<BlobSweepPage> SweepUnreferencedBlobsAsync(BlobDigest? after, int limit, DateTimeOffset since, bool dryRun, CancellationToken cancellationToken);
}
