using Flywheel.Cache.Storage;
using Npgsql;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string CacheUsageSql =
        "SELECT (SELECT count(*) FROM cache_blobs AS c WHERE c.cache_id = $1 AND " + IndexRows.QuotaBlob + "), " +
        "(SELECT COALESCE(sum(c.size), 0)::bigint FROM cache_blobs AS c WHERE c.cache_id = $1 AND " + IndexRows.QuotaBlob + "), " +
        "(SELECT count(*) FROM narinfos WHERE cache_id = $1), " +
        "(SELECT count(*) FROM nar_files WHERE cache_id = $1), " +
        "(SELECT COALESCE(sum(file_size), 0)::bigint FROM nar_files WHERE cache_id = $1), " +
        "(SELECT count(*) FROM action_results WHERE cache_id = $1), " +
        "(SELECT count(*) FROM pins WHERE cache_id = $1)";

    private const string LeastRecentCacheBlobsSql =
        "SELECT c.digest, c.size, c.last_access FROM cache_blobs AS c WHERE c.cache_id = $1 AND (c.last_access, c.digest) > ($2, $3) " +
        "AND " + IndexRows.QuotaBlob + " ORDER BY c.last_access, c.digest LIMIT $4";

    private const string RemoveCacheBlobsSql =
        "DELETE FROM cache_blobs AS c USING unnest($2::bytea[], $3::bigint[]) AS e (digest, last_access) " +
        "WHERE c.cache_id = $1 AND c.digest = e.digest AND c.last_access = e.last_access RETURNING c.size";

    private const string RemoveActionResultsSql =
        "DELETE FROM action_results WHERE cache_id = $1 AND last_access < $2 RETURNING size";

    private const string NarInfoNodesSql =
        "SELECT store_path_hash, refs, last_access, file_size FROM narinfos WHERE cache_id = $1 AND store_path_hash > $2 " +
        "ORDER BY store_path_hash LIMIT $3";

    private const string RemoveNarInfosSql =
        "WITH removed AS (DELETE FROM narinfos AS i WHERE i.cache_id = $1 AND i.store_path_hash = ANY($2) AND i.last_access < $3 " +
        "AND NOT EXISTS (SELECT 1 FROM pins AS p WHERE p.cache_id = i.cache_id AND p.store_path_hash = i.store_path_hash) " +
        "RETURNING i.store_path_hash, i.file_size), " +
        "listings AS (DELETE FROM cache_files AS f USING removed WHERE f.cache_id = $1 AND f.path = removed.store_path_hash || '.ls') " +
        "SELECT file_size FROM removed";

    // A NAR record's blob leaves the cache with the record (see IndexRows.QuotaBlob).
    private const string RemoveUnreferencedNarFilesSql =
        "WITH removed AS (DELETE FROM nar_files AS n WHERE n.cache_id = $1 AND n.created_at < $2 " +
        "AND NOT EXISTS (SELECT 1 FROM narinfos AS i WHERE i.cache_id = n.cache_id AND i.file_hash = n.file_hash) " +
        "RETURNING n.file_hash, n.file_size), " +
        "members AS (DELETE FROM cache_blobs AS c USING removed WHERE c.cache_id = $1 AND c.digest = removed.file_hash) " +
        "SELECT file_size FROM removed";

    private const string BlobPageSql =
        "SELECT digest, count(*) OVER () FROM (SELECT digest FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2) AS page " +
        "ORDER BY digest DESC LIMIT 1"; // bytea has no max()

    private const string UnreferencedInPage =
        "FROM blobs AS b WHERE b.digest > $1 AND b.digest <= $2 AND b.last_access < $3 AND " + IndexRows.UnreferencedBlob;

    private const string FindUnreferencedBlobsSql = "SELECT b.digest, b.size " + UnreferencedInPage;

    private const string DeleteUnreferencedBlobsSql =
        "DELETE FROM blobs WHERE digest IN (SELECT b.digest " + UnreferencedInPage + " FOR UPDATE OF b) RETURNING digest, size";

    public Task<CacheUsage> GetCacheUsageAsync(long cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static async (connection, cacheId, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, CacheUsageSql).With(cacheId);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return new CacheUsage(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6));
        }, cancellationToken);

    public Task<IReadOnlyList<CacheBlobEntry>> ListLeastRecentCacheBlobsAsync(
        long cacheId, CacheBlobEntry? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return RunAsync((cacheId, after, limit), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, LeastRecentCacheBlobsSql).With(s.cacheId)
                .With(s.after is { } a ? ToUnix(a.LastAccess) : long.MinValue)
                .With(s.after is { } b ? b.Digest.ToBytes() : Array.Empty<byte>())
                .With((long)s.limit);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var entries = new List<CacheBlobEntry>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                entries.Add(new CacheBlobEntry(reader.GetDigest(0), reader.GetInt64(1), FromUnix(reader.GetInt64(2))));
            }

            return (IReadOnlyList<CacheBlobEntry>)entries;
        }, cancellationToken);
    }

    public Task<RemovedEntries> RemoveCacheBlobsAsync(long cacheId, IReadOnlyList<CacheBlobEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return Task.FromResult(RemovedEntries.None);
        }

        var digests = new BlobDigest[entries.Count];
        var times = new long[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            digests[i] = entries[i].Digest;
            times[i] = ToUnix(entries[i].LastAccess);
        }

        return RunAsync((cacheId, digests, times), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RemoveCacheBlobsSql)
                .With(s.cacheId).WithDigests(s.digests).With(s.times);
            return await SumSizesAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<RemovedEntries> RemoveActionResultsAsync(long cacheId, DateTimeOffset since, CancellationToken cancellationToken) =>
        RunAsync((cacheId, since), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RemoveActionResultsSql).With(s.cacheId).With(ToUnix(s.since));
            return await SumSizesAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<NarInfoNode>> ListNarInfoNodesAsync(long cacheId, string? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return RunAsync((cacheId, after: after ?? "", limit), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, NarInfoNodesSql).With(s.cacheId).With(s.after).With((long)s.limit);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var nodes = new List<NarInfoNode>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                nodes.Add(IndexRows.NarInfoNode(reader));
            }

            return (IReadOnlyList<NarInfoNode>)nodes;
        }, cancellationToken);
    }

    public Task<RemovedEntries> RemoveNarInfosAsync(
        long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset since, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHashes);
        if (storePathHashes.Count == 0)
        {
            return Task.FromResult(RemovedEntries.None);
        }

        var hashes = storePathHashes as string[] ?? [.. storePathHashes];
        return RunAsync((cacheId, hashes, since), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RemoveNarInfosSql).With(s.cacheId).With(s.hashes).With(ToUnix(s.since));
            return await SumSizesAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<RemovedEntries> RemoveUnreferencedNarFilesAsync(long cacheId, DateTimeOffset before, CancellationToken cancellationToken) =>
        RunAsync((cacheId, before), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RemoveUnreferencedNarFilesSql).With(s.cacheId).With(ToUnix(s.before));
            return await SumSizesAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<BlobSweepPage> SweepUnreferencedBlobsAsync(
        BlobDigest? after, int limit, DateTimeOffset since, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return RunAsync((after: after?.ToBytes() ?? [], limit, since, dryRun), static async (connection, s, ct) =>
        {
            byte[] last;
            long count;
            await using (var page = PostgresCommands.Create(connection, BlobPageSql).With(s.after).With((long)s.limit))
            await using (var reader = await page.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return new BlobSweepPage([], null);
                }

                last = reader.GetFieldValue<byte[]>(0);
                count = reader.GetInt64(1);
            }

            await using var sweep = PostgresCommands.Create(connection, s.dryRun ? FindUnreferencedBlobsSql : DeleteUnreferencedBlobsSql)
                .With(s.after).With(last).With(ToUnix(s.since));
            await using var rows = await sweep.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var unreferenced = new List<SizedBlob>();
            while (await rows.ReadAsync(ct).ConfigureAwait(false))
            {
                unreferenced.Add(new SizedBlob(rows.GetDigest(0), rows.GetInt64(1)));
            }

            return new BlobSweepPage(unreferenced, count < s.limit ? null : BlobDigest.FromBytes(last));
        }, cancellationToken);
    }

    /// <summary>Runs a statement returning sizes (a DELETE … RETURNING): how many rows went, and their sizes' sum.</summary>
    private static async Task<RemovedEntries> SumSizesAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        long count = 0, bytes = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            count++;
            bytes += reader.GetInt64(0);
        }

        return new RemovedEntries(count, bytes);
    }
}
