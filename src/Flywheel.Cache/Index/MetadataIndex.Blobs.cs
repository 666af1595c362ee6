using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// Blobs, their memberships in caches, and action results. The REAPI FindMissingBlobs lookups and the access-time
/// batches are the dialects' own (abstract here): each packs its batch its driver's cheapest way.
/// </summary>
public abstract partial class MetadataIndex : IBlobIndex, IActionCacheStore
{
    // Times only move forward: a late or repeated record writes nothing.
    private const string RecordBlobSql =
        "INSERT INTO blobs (digest, size, created_at, last_access) VALUES ($1, $2, $3, $3) " +
        "ON CONFLICT (digest) DO UPDATE SET last_access = excluded.last_access WHERE blobs.last_access < excluded.last_access";

    // Only blobs the index knows join the cache (their size comes from blobs); times only move forward. Rows are
    // written in key order, so two overlapping batches from different PostgreSQL gateways cannot deadlock.
    private static readonly DialectSql AddCacheBlobsSql = new(d =>
        "INSERT INTO cache_blobs (cache_id, digest, size, last_access) " +
        $"SELECT $1, b.digest, b.size, $2 FROM blobs AS b WHERE b.digest IN (SELECT a.value FROM {d.DigestList("$3", "a")}) ORDER BY b.digest " +
        "ON CONFLICT (cache_id, digest) DO UPDATE SET last_access = excluded.last_access WHERE cache_blobs.last_access < excluded.last_access");

    private const string CacheBlobSizeSql = "SELECT size FROM cache_blobs WHERE cache_id = $1 AND digest = $2";

    private const string GetActionResultSql = "SELECT result FROM action_results WHERE cache_id = $1 AND action_hash = $2";

    private const string PutActionResultSql =
        "INSERT INTO action_results (cache_id, action_hash, result, size, created_at, last_access) VALUES ($1, $2, $3, $4, $5, $5) " +
        "ON CONFLICT (cache_id, action_hash) DO UPDATE SET " +
        "result = excluded.result, size = excluded.size, created_at = excluded.created_at, last_access = excluded.last_access";

    public abstract Task<IReadOnlyList<BlobDigest>> FindMissingBlobsAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken);

    public async Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(long cacheId, IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken)
    {
        using var lookup = SizedBlobLookup.Create(blobs);
        if (lookup.Count > 0)
        {
            await FindSizedBlobsAsync(cacheId, lookup, cancellationToken).ConfigureAwait(false);
        }

        return lookup.MissingPositions();
    }

    /// <summary>Marks in <paramref name="lookup"/> the packed digests the cache owns, with their sizes (one query, the dialect's own).</summary>
    private protected abstract Task FindSizedBlobsAsync(long cacheId, SizedBlobLookup lookup, CancellationToken cancellationToken);

    public abstract Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken);

    public abstract Task TouchActionResultsAsync(long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken);

    public Task RecordBlobAsync(BlobDigest digest, long size, DateTimeOffset when, CancellationToken cancellationToken) =>
        ExecuteAsync(RecordBlobSql, (digest, size, when), static (c, s) => c.Add(s.digest).Add(s.size).Add(s.when), cancellationToken);

    public Task AddCacheBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        return digests.Count == 0
            ? Task.CompletedTask
            : ExecuteAsync(AddCacheBlobsSql.For(Dialect), (cacheId, digests, when), static (c, s) => c.Add(s.cacheId).Add(s.when).AddDigests(s.digests), cancellationToken);
    }

    public async Task<long?> GetCacheBlobSizeAsync(long cacheId, BlobDigest digest, CancellationToken cancellationToken) =>
        await QueryAsync(CacheBlobSizeSql, (cacheId, digest), static (c, s) => c.Add(s.cacheId).Add(s.digest),
            static (_, r) => r.GetInt64(0), cancellationToken).ConfigureAwait(false) is [var size] ? size : null;

    public Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken) =>
        QueryFirstAsync(GetActionResultSql, (cacheId, actionHash), static (c, s) => c.Add(s.cacheId).Add(s.actionHash),
            static (_, r) => r.GetFieldValue<byte[]>(0), cancellationToken);

    public Task PutActionResultAsync(
        long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken) =>
        ExecuteAsync(PutActionResultSql, (cacheId, actionHash, actionResult, when), static (c, s) => c
            .Add(s.cacheId).Add(s.actionHash).Add(s.actionResult).Add((long)s.actionResult.Length).Add(s.when), cancellationToken);
}
