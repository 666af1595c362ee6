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

    /// <summary>Updates IsPublic, Priority, Retention and QuotaBytes of an existing cache.</summary>
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

    /// <summary>
    /// Makes these blobs the cache's own (it verified their bytes: a CAS upload, a NAR upload or upstream pull) and
    /// bumps their last access in that cache, in one statement per batch. Digests the index does not know are
    /// ignored; times only move forward. Only bytes that came in through the cache may be added: what a cache owns
    /// is what it serves and reports present.
    /// </summary>
    Task AddCacheBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>
    /// Bumps the last access of blobs the cache owns already (reads, action-cache hits), in one statement per batch;
    /// a digest the cache does not own is left alone (a read never makes a blob the reader's). Times only move forward.
    /// </summary>
    Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>The size of a blob the cache owns, or null when it does not own it (whoever else does).</summary>
    Task<long?> GetCacheBlobSizeAsync(long cacheId, BlobDigest digest, CancellationToken cancellationToken);

    /// <summary>
    /// Positions (ascending) in <paramref name="blobs"/> of the blobs the cache does not own at that size: blobs it
    /// does not own (stored for another cache or not at all), and digests it owns at another size. One statement per
    /// batch; a blob asked for twice is reported at its first position only. The empty blob at size 0 is never missing.
    /// </summary>
    Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(long cacheId, IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken);

    // ---- action cache (Bazel), per cache

    /// <summary>The stored action result bytes for an action hash in a cache, or null.</summary>
    Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces the action result of an action hash in a cache.</summary>
    Task PutActionResultAsync(long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>Bumps the last access time of a cache's action results, in one statement per batch; times only move forward.</summary>
    Task TouchActionResultsAsync(long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken);

    // ---- pins (store paths that retention never collects, with their closure)

    /// <summary>Pins a store path of a cache; pinning it again keeps the first pin. The path need not be in the cache yet.</summary>
    Task PinAsync(long cacheId, string storePathHash, string reason, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>Removes a pin; returns false when there was none.</summary>
    Task<bool> UnpinAsync(long cacheId, string storePathHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<PinRecord>> ListPinsAsync(long cacheId, CancellationToken cancellationToken);

    // ---- garbage collection

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

    // ---- promotions (audit records of the promotion gate)

    /// <summary>Records a new promotion with its paths; false (and nothing written) when one with its id exists.</summary>
    Task<bool> TryCreatePromotionAsync(PromotionRecord promotion, CancellationToken cancellationToken);

    Task<PromotionRecord?> GetPromotionAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the mutable fields (status, class, decision, provenance, publication, error, updated time) of a
    /// promotion whose status is still <paramref name="expectedStatus"/>; false when it is not (another gateway
    /// moved it on), so that one caller at a time can claim a promotion for publishing.
    /// </summary>
    Task<bool> TryUpdatePromotionAsync(PromotionRecord promotion, string expectedStatus, CancellationToken cancellationToken);

    Task<IReadOnlyList<PromotionRecord>> ListPromotionsAsync(PromotionQuery query, CancellationToken cancellationToken);

    // ---- builds (the queue of Nix build requests and the history of their attempts)

    /// <summary>Stores a new build request; <see cref="CacheError.Conflict"/> when its id is taken.</summary>
    Task EnqueueBuildAsync(BuildRecord build, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the oldest queued build on one of <paramref name="lanes"/> for <paramref name="worker"/> (status running,
    /// started and heartbeat now, attempt + 1, held until <paramref name="leasedUntil"/>) and returns it; null when none
    /// waits. Exclusive: two workers never take the same build, across processes and machines too.
    /// </summary>
    Task<BuildRecord?> TakeBuildAsync(IReadOnlyCollection<string> lanes, string worker, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Renews the lease of a build that <paramref name="worker"/> holds (running, taken by it, attempt
    /// <paramref name="attempt"/>): heartbeat <paramref name="when"/>, held until <paramref name="leasedUntil"/>. False
    /// when it holds it no longer (its lease ended and the build was reclaimed, or it was finished).
    /// </summary>
    Task<bool> RenewBuildLeaseAsync(string id, string worker, int attempt, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Records that the attempt of a build <paramref name="worker"/> holds entered <paramref name="phase"/> at
    /// <paramref name="when"/> (for live progress); false when it holds it no longer.
    /// </summary>
    Task<bool> SetBuildPhaseAsync(string id, string worker, int attempt, string phase, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the attempt of a build that <paramref name="worker"/> holds (running, taken by it, the same attempt number):
    /// stores its new state (lane, reason, status, times, worker, outputs, log, error, lease) and records
    /// <paramref name="attempt"/> when given, in one transaction. <see cref="CacheError.Conflict"/> when the worker holds
    /// it no longer (nothing is written), <see cref="CacheError.NotFound"/> when there is no such build.
    /// </summary>
    Task FinishBuildAttemptAsync(BuildRecord build, string worker, BuildAttemptRecord? attempt, CancellationToken cancellationToken);

    /// <summary>
    /// Reclaims running builds whose lease ended before <paramref name="when"/> (their workers died): each is queued
    /// again with the attempt recorded as <see cref="BuildOutcome.Lost"/>, or ends with <see cref="BuildStatus.Lost"/>
    /// once <paramref name="maxLost"/> of its attempts were lost. Returns them in their new state, at most
    /// <see cref="BuildLeases.MaxReclaimedPerCall"/> per call. Safe to run from many workers at once.
    /// </summary>
    Task<IReadOnlyList<BuildRecord>> ReclaimExpiredBuildsAsync(DateTimeOffset when, int maxLost, CancellationToken cancellationToken);

    /// <summary>How many builds are queued and running, per lane (lanes with none are left out).</summary>
    Task<IReadOnlyList<BuildCount>> CountActiveBuildsAsync(CancellationToken cancellationToken);

    Task<BuildRecord?> GetBuildAsync(string id, CancellationToken cancellationToken);

    /// <summary>Builds matching the filters, newest request first.</summary>
    Task<IReadOnlyList<BuildRecord>> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Attempts of one build (<paramref name="buildId"/>) or of one installable, or all (both null); newest first, at most
    /// <paramref name="limit"/>.
    /// </summary>
    Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// All attempts in pages, grouped by installable: ordered by installable, finish time, build and attempt, the
    /// <paramref name="limit"/> after <paramref name="after"/> (the last of the previous page; null: from the start).
    /// </summary>
    Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsByInstallableAsync(BuildAttemptRecord? after, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Records that <paramref name="worker"/> on <paramref name="host"/> polled for builds of <paramref name="lanes"/> at
    /// <paramref name="when"/> (one row per worker and lane, last seen then), and forgets every worker not seen since
    /// <paramref name="forgetBefore"/>.
    /// </summary>
    Task RecordBuildWorkerAsync(string worker, string host, IReadOnlyCollection<string> lanes, DateTimeOffset when, DateTimeOffset forgetBefore, CancellationToken cancellationToken);

    /// <summary>The workers seen at or after <paramref name="seenSince"/>, one per worker and lane, ordered by lane and worker.</summary>
    Task<IReadOnlyList<BuildWorkerRecord>> ListBuildWorkersAsync(DateTimeOffset seenSince, CancellationToken cancellationToken);

    /// <summary>Forgets <paramref name="worker"/> on every lane (it stopped).</summary>
    Task RemoveBuildWorkerAsync(string worker, CancellationToken cancellationToken);
}

/// <summary>A blob digest with the size a client says it has (a REAPI digest, in storage terms).</summary>
public readonly record struct SizedBlob(BlobDigest Digest, long Size);
