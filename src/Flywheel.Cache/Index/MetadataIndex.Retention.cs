using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IRetentionStore
{
    private const string CacheUsageSql =
        "SELECT (SELECT COUNT(*) FROM cache_blobs AS c WHERE c.cache_id = $1 AND " + IndexRows.QuotaBlob + "), " +
        "(SELECT CAST(COALESCE(SUM(c.size), 0) AS BIGINT) FROM cache_blobs AS c WHERE c.cache_id = $1 AND " + IndexRows.QuotaBlob + "), " +
        "(SELECT COUNT(*) FROM narinfos WHERE cache_id = $1), " +
        "(SELECT COUNT(*) FROM nar_files WHERE cache_id = $1), " +
        "(SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) FROM nar_files WHERE cache_id = $1), " +
        "(SELECT COUNT(*) FROM action_results WHERE cache_id = $1), " +
        "(SELECT COUNT(*) FROM pins WHERE cache_id = $1)";

    private const string LeastRecentCacheBlobsSql =
        "SELECT c.digest, c.size, c.last_access FROM cache_blobs AS c WHERE c.cache_id = $1 AND (c.last_access, c.digest) > ($2, $3) " +
        "AND " + IndexRows.QuotaBlob + " ORDER BY c.last_access, c.digest LIMIT $4";

    // A membership goes only if it was not used since it was listed (its access time is still the listed one).
    private static readonly DialectSql RemoveCacheBlobsSql = new(d =>
        "DELETE FROM cache_blobs WHERE cache_id = $1 AND (digest, last_access) IN " +
        $"(SELECT e.value, t.value FROM {d.DigestList("$2", "e")} JOIN {d.LongList("$3", "t")} ON t.ord = e.ord) RETURNING size");

    private const string RemoveActionResultsSql = "DELETE FROM action_results WHERE cache_id = $1 AND last_access < $2 RETURNING size";

    private const string NarInfoNodesSql =
        "SELECT store_path_hash, refs, last_access, file_size FROM narinfos WHERE cache_id = $1 AND store_path_hash > $2 " +
        "ORDER BY store_path_hash LIMIT $3";

    private static readonly DialectSql RemoveNarInfosSql = new(d =>
        $"DELETE FROM narinfos AS i WHERE i.cache_id = $1 AND i.store_path_hash IN (SELECT h.value FROM {d.StringList("$2", "h")}) " +
        "AND i.last_access < $3 AND NOT EXISTS (SELECT 1 FROM pins AS p WHERE p.cache_id = i.cache_id AND p.store_path_hash = i.store_path_hash) " +
        "RETURNING store_path_hash, file_size");

    private static readonly DialectSql RemoveListingsSql = new(d =>
        $"DELETE FROM cache_files WHERE cache_id = $1 AND path IN (SELECT h.value || '.ls' FROM {d.StringList("$2", "h")})");

    private const string RemoveUnreferencedNarFilesSql =
        "DELETE FROM nar_files AS n WHERE n.cache_id = $1 AND n.created_at < $2 " +
        "AND NOT EXISTS (SELECT 1 FROM narinfos AS i WHERE i.cache_id = n.cache_id AND i.file_hash = n.file_hash) " +
        "RETURNING file_hash, file_size";

    // A NAR record's blob leaves the cache with the record (see IndexRows.QuotaBlob).
    private static readonly DialectSql RemoveNarFileBlobsSql = new(d =>
        $"DELETE FROM cache_blobs WHERE cache_id = $1 AND digest IN (SELECT f.value FROM {d.DigestList("$2", "f")})");

    // The last digest of the page and the page's size (bytea has no max() in PostgreSQL).
    private const string BlobPageSql =
        "SELECT digest, COUNT(*) OVER () FROM (SELECT digest FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2) AS page ORDER BY digest DESC LIMIT 1";

    private const string UnreferencedInPage =
        "FROM blobs AS b WHERE b.digest > $1 AND b.digest <= $2 AND b.last_access < $3 AND " + IndexRows.UnreferencedBlob;

    private const string FindUnreferencedBlobsSql = "SELECT b.digest, b.size " + UnreferencedInPage;

    private static readonly DialectSql DeleteUnreferencedBlobsSql = new(d =>
        $"DELETE FROM blobs WHERE digest IN (SELECT b.digest {UnreferencedInPage}{d.RowLock("FOR UPDATE OF b")}) RETURNING digest, size");

    public abstract Task<IAsyncDisposable?> TryAcquireMaintenanceLockAsync(CancellationToken cancellationToken);

    public async Task<CacheUsage> GetCacheUsageAsync(long cacheId, CancellationToken cancellationToken) =>
        (await QueryFirstAsync(CacheUsageSql, cacheId, static (c, id) => c.Add(id), static (_, r) => new CacheUsage(
            r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6)), cancellationToken).ConfigureAwait(false))!;

    public Task<IReadOnlyList<CacheBlobEntry>> ListLeastRecentCacheBlobsAsync(long cacheId, CacheBlobEntry? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return QueryAsync(LeastRecentCacheBlobsSql, (cacheId, after, limit), static (c, s) => c
                .Add(s.cacheId).Add(s.after?.LastAccess.ToUnixTimeMilliseconds() ?? long.MinValue).Add(s.after?.Digest.ToBytes() ?? []).Add((long)s.limit),
            static (connection, r) => new CacheBlobEntry(connection.ReadDigest(r, 0), r.GetInt64(1), FromUnix(r.GetInt64(2))), cancellationToken);
    }

    public Task<RemovedEntries> RemoveCacheBlobsAsync(long cacheId, IReadOnlyList<CacheBlobEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return entries.Count == 0
            ? Task.FromResult(RemovedEntries.None)
            : SumSizesAsync(RemoveCacheBlobsSql.For(Dialect), (cacheId, entries), static (c, s) => c.Add(s.cacheId)
                .AddDigests(s.entries.Select(e => e.Digest).ToList()).AddLongs(s.entries.Select(e => e.LastAccess.ToUnixTimeMilliseconds()).ToList()),
                cancellationToken);
    }

    public Task<RemovedEntries> RemoveActionResultsAsync(long cacheId, DateTimeOffset since, CancellationToken cancellationToken) =>
        SumSizesAsync(RemoveActionResultsSql, (cacheId, since), static (c, s) => c.Add(s.cacheId).Add(s.since), cancellationToken);

    public Task<IReadOnlyList<NarInfoNode>> ListNarInfoNodesAsync(long cacheId, string? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return QueryAsync(NarInfoNodesSql, (cacheId, after: after ?? "", limit), static (c, s) => c.Add(s.cacheId).Add(s.after).Add((long)s.limit),
            static (_, r) => IndexRows.NarInfoNode(r), cancellationToken);
    }

    /// <summary>The narinfos (not pinned, not read since <paramref name="since"/>) and their <c>.ls</c> listings, in one transaction.</summary>
    public Task<RemovedEntries> RemoveNarInfosAsync(
        long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset since, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHashes);
        return storePathHashes.Count == 0
            ? Task.FromResult(RemovedEntries.None)
            : RemoveWithAsync(cacheId, (RemoveNarInfosSql.For(Dialect), RemoveListingsSql.For(Dialect)), (cacheId, storePathHashes, since),
                static (c, s) => c.Add(s.cacheId).AddStrings(s.storePathHashes).Add(s.since), static (_, r) => r.GetString(0),
                static (c, removed) => c.AddStrings(removed), cancellationToken);
    }

    /// <summary>The NAR records no narinfo names any more and their blobs' memberships, in one transaction.</summary>
    public Task<RemovedEntries> RemoveUnreferencedNarFilesAsync(long cacheId, DateTimeOffset before, CancellationToken cancellationToken) =>
        RemoveWithAsync(cacheId, (RemoveUnreferencedNarFilesSql, RemoveNarFileBlobsSql.For(Dialect)), (cacheId, before),
            static (c, s) => c.Add(s.cacheId).Add(s.before), static (connection, r) => connection.ReadDigest(r, 0),
            static (c, removed) => c.AddDigests(removed), cancellationToken);

    public Task<BlobSweepPage> SweepUnreferencedBlobsAsync(BlobDigest? after, int limit, DateTimeOffset since, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var sweep = dryRun ? FindUnreferencedBlobsSql : DeleteUnreferencedBlobsSql.For(Dialect);
        return UseConnectionAsync((after: after?.ToBytes() ?? [], limit, since, sweep), static async (connection, s, ct) =>
        {
            var page = await connection.QueryFirstAsync(BlobPageSql, s, static (c, s) => c.Add(s.after).Add((long)s.limit),
                static (_, r) => Tuple.Create(r.GetFieldValue<byte[]>(0), r.GetInt64(1)), ct).ConfigureAwait(false);
            if (page is null)
            {
                return new BlobSweepPage([], null);
            }

            var (last, count) = page;

            var unreferenced = await connection.QueryAsync(s.sweep, (s, last), static (c, p) => c.Add(p.s.after).Add(p.last).Add(p.s.since),
                static (connection, r) => new SizedBlob(connection.ReadDigest(r, 0), r.GetInt64(1)), ct).ConfigureAwait(false);
            return new BlobSweepPage(unreferenced, count < s.limit ? null : BlobDigest.FromBytes(last));
        }, cancellationToken);
    }

    /// <summary>Runs a statement returning sizes (a DELETE … RETURNING): how many rows went, and their sizes' sum.</summary>
    private Task<RemovedEntries> SumSizesAsync<TState>(string sql, TState state, Action<IndexCommand, TState> bind, CancellationToken cancellationToken) =>
        UseConnectionAsync((sql, state, bind), static async (connection, s, ct) =>
        {
            var sizes = await connection.QueryAsync(s.sql, s.state, s.bind, static (_, r) => r.GetInt64(0), ct).ConfigureAwait(false);
            return new RemovedEntries(sizes.Count, sizes.Sum());
        }, cancellationToken);

    /// <summary>
    /// Runs a DELETE … RETURNING of (key, size) rows, then <paramref name="sql"/>'s second statement for the cache and
    /// the keys that went (what leaves with them), in one transaction.
    /// </summary>
    private Task<RemovedEntries> RemoveWithAsync<TState, TKey>(
        long cacheId, (string Remove, string Follow) sql, TState state, Action<IndexCommand, TState> bind, Func<IndexConnection, System.Data.Common.DbDataReader, TKey> key,
        Action<IndexCommand, List<TKey>> bindRemoved, CancellationToken cancellationToken) =>
        UseConnectionAsync((cacheId, sql, state, bind, key, bindRemoved), static (connection, s, ct) => connection.InTransactionAsync(s, static async (connection, s, ct) =>
        {
            var removed = await connection.QueryAsync(s.sql.Remove, s.state, s.bind, (c, r) => (Key: s.key(c, r), Size: r.GetInt64(1)), ct).ConfigureAwait(false);
            if (removed.Count > 0)
            {
                await connection.ExecuteAsync(s.sql.Follow, (s.cacheId, keys: removed.ConvertAll(x => x.Key), s.bindRemoved),
                    static (c, f) => f.bindRemoved(c.Add(f.cacheId), f.keys), ct).ConfigureAwait(false);
            }

            return new RemovedEntries(removed.Count, removed.Sum(x => x.Size));
        }, ct), cancellationToken);
}
