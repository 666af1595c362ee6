using Flywheel.Cache.Storage;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string CacheUsageSql =
        "SELECT (SELECT COUNT(*) FROM cache_blobs AS c WHERE c.cache_id = @cache_id AND " + IndexRows.QuotaBlob + "), " +
        "(SELECT COALESCE(SUM(c.size), 0) FROM cache_blobs AS c WHERE c.cache_id = @cache_id AND " + IndexRows.QuotaBlob + "), " +
        "(SELECT COUNT(*) FROM narinfos WHERE cache_id = @cache_id), " +
        "(SELECT COUNT(*) FROM nar_files WHERE cache_id = @cache_id), " +
        "(SELECT COALESCE(SUM(file_size), 0) FROM nar_files WHERE cache_id = @cache_id), " +
        "(SELECT COUNT(*) FROM action_results WHERE cache_id = @cache_id), " +
        "(SELECT COUNT(*) FROM pins WHERE cache_id = @cache_id)";

    private const string LeastRecentCacheBlobsSql =
        "SELECT c.digest, c.size, c.last_access FROM cache_blobs AS c WHERE c.cache_id = @cache_id " +
        "AND (c.last_access, c.digest) > (@after_access, @after_digest) AND " + IndexRows.QuotaBlob + " " +
        "ORDER BY c.last_access, c.digest LIMIT @limit";

    private const string RemoveCacheBlobsSql =
        "DELETE FROM cache_blobs WHERE cache_id = @cache_id AND (digest, last_access) IN " +
        "(SELECT unhex(json_extract(value, '$[0]')), json_extract(value, '$[1]') FROM json_each(@entries)) RETURNING size";

    private const string RemoveActionResultsSql =
        "DELETE FROM action_results WHERE cache_id = @cache_id AND last_access < @since RETURNING size";

    private const string NarInfoNodesSql =
        "SELECT store_path_hash, refs, last_access, file_size FROM narinfos WHERE cache_id = @cache_id AND store_path_hash > @after " +
        "ORDER BY store_path_hash LIMIT @limit";

    private const string RemoveNarInfosSql =
        "DELETE FROM narinfos AS i WHERE i.cache_id = @cache_id AND i.store_path_hash IN (SELECT value FROM json_each(@hashes)) " +
        "AND i.last_access < @since " +
        "AND NOT EXISTS (SELECT 1 FROM pins AS p WHERE p.cache_id = i.cache_id AND p.store_path_hash = i.store_path_hash) " +
        "RETURNING store_path_hash, file_size";

    private const string RemoveListingsSql =
        "DELETE FROM cache_files WHERE cache_id = @cache_id AND path IN (SELECT value || '.ls' FROM json_each(@hashes))";

    private const string RemoveUnreferencedNarFilesSql =
        "DELETE FROM nar_files AS n WHERE n.cache_id = @cache_id AND n.created_at < @before " +
        "AND NOT EXISTS (SELECT 1 FROM narinfos AS i WHERE i.cache_id = n.cache_id AND i.file_hash = n.file_hash) " +
        "RETURNING file_hash, file_size";

    // A NAR record's blob leaves the cache with the record (see IndexRows.QuotaBlob).
    private const string RemoveNarFileBlobsSql =
        "DELETE FROM cache_blobs WHERE cache_id = @cache_id AND digest IN (SELECT unhex(value) FROM json_each(@digests))";

    private const string BlobPageSql =
        "SELECT MAX(digest), COUNT(*) FROM (SELECT digest FROM blobs WHERE digest > @after ORDER BY digest LIMIT @limit)";

    private const string UnreferencedInPage =
        "FROM blobs AS b WHERE b.digest > @after AND b.digest <= @last AND b.last_access < @since AND " + IndexRows.UnreferencedBlob;

    private const string FindUnreferencedBlobsSql = "SELECT b.digest, b.size " + UnreferencedInPage;

    private const string DeleteUnreferencedBlobsSql =
        "DELETE FROM blobs WHERE digest IN (SELECT b.digest " + UnreferencedInPage + ") RETURNING digest, size";

    public Task<CacheUsage> GetCacheUsageAsync(long cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static (session, cacheId) =>
        {
            var command = session.Command(CacheUsageSql, "@cache_id");
            command.Parameters[0].Value = cacheId;
            using var reader = command.ExecuteReader();
            reader.Read();
            return new CacheUsage(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6));
        }, cancellationToken);

    public Task<IReadOnlyList<CacheBlobEntry>> ListLeastRecentCacheBlobsAsync(
        long cacheId, CacheBlobEntry? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return RunAsync((cacheId, after, limit), static (session, s) =>
        {
            var command = session.Command(LeastRecentCacheBlobsSql, "@cache_id", "@after_access", "@after_digest", "@limit");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.after is { } a ? ToUnix(a.LastAccess) : long.MinValue;
            command.Parameters[2].Value = s.after is { } b ? b.Digest.ToBytes() : Array.Empty<byte>();
            command.Parameters[3].Value = s.limit;
            var entries = new List<CacheBlobEntry>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                entries.Add(new CacheBlobEntry(session.ReadDigest(reader, 0), reader.GetInt64(1), FromUnix(reader.GetInt64(2))));
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

        return RunAsync((cacheId, json: SqliteJson.DigestTimeArray(entries)), static (session, s) =>
        {
            var command = session.Command(RemoveCacheBlobsSql, "@cache_id", "@entries");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.json;
            return SumSizes(command);
        }, cancellationToken);
    }

    public Task<RemovedEntries> RemoveActionResultsAsync(long cacheId, DateTimeOffset since, CancellationToken cancellationToken) =>
        RunAsync((cacheId, since), static (session, s) =>
        {
            var command = session.Command(RemoveActionResultsSql, "@cache_id", "@since");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = ToUnix(s.since);
            return SumSizes(command);
        }, cancellationToken);

    public Task<IReadOnlyList<NarInfoNode>> ListNarInfoNodesAsync(long cacheId, string? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return RunAsync((cacheId, after: after ?? "", limit), static (session, s) =>
        {
            var command = session.Command(NarInfoNodesSql, "@cache_id", "@after", "@limit");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.after;
            command.Parameters[2].Value = s.limit;
            var nodes = new List<NarInfoNode>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
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

        return RunAsync((cacheId, json: SqliteJson.StringArray(storePathHashes), since), static (session, s) =>
        {
            using var transaction = session.Connection.BeginTransaction(deferred: false);
            var remove = session.Command(RemoveNarInfosSql, "@cache_id", "@hashes", "@since");
            remove.Transaction = transaction;
            remove.Parameters[0].Value = s.cacheId;
            remove.Parameters[1].Value = s.json;
            remove.Parameters[2].Value = ToUnix(s.since);
            var removed = new List<string>();
            long bytes = 0;
            using (var reader = remove.ExecuteReader())
            {
                while (reader.Read())
                {
                    removed.Add(reader.GetString(0));
                    bytes += reader.GetInt64(1);
                }
            }

            if (removed.Count > 0)
            {
                var listings = session.Command(RemoveListingsSql, "@cache_id", "@hashes");
                listings.Transaction = transaction;
                listings.Parameters[0].Value = s.cacheId;
                listings.Parameters[1].Value = SqliteJson.StringArray(removed);
                listings.ExecuteNonQuery();
            }

            transaction.Commit();
            return new RemovedEntries(removed.Count, bytes);
        }, cancellationToken);
    }

    public Task<RemovedEntries> RemoveUnreferencedNarFilesAsync(long cacheId, DateTimeOffset before, CancellationToken cancellationToken) =>
        RunAsync((cacheId, before), static (session, s) =>
        {
            using var transaction = session.Connection.BeginTransaction(deferred: false);
            var command = session.Command(RemoveUnreferencedNarFilesSql, "@cache_id", "@before");
            command.Transaction = transaction;
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = ToUnix(s.before);
            var removed = new List<BlobDigest>();
            long bytes = 0;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    removed.Add(session.ReadDigest(reader, 0));
                    bytes += reader.GetInt64(1);
                }
            }

            if (removed.Count > 0)
            {
                var members = session.Command(RemoveNarFileBlobsSql, "@cache_id", "@digests");
                members.Transaction = transaction;
                members.Parameters[0].Value = s.cacheId;
                members.Parameters[1].Value = SqliteJson.DigestArray(removed);
                members.ExecuteNonQuery();
            }

            transaction.Commit();
            return new RemovedEntries(removed.Count, bytes);
        }, cancellationToken);

    public Task<BlobSweepPage> SweepUnreferencedBlobsAsync(
        BlobDigest? after, int limit, DateTimeOffset since, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return RunAsync((after: after?.ToBytes() ?? [], limit, since, dryRun), static (session, s) =>
        {
            var page = session.Command(BlobPageSql, "@after", "@limit");
            page.Parameters[0].Value = s.after;
            page.Parameters[1].Value = s.limit;
            byte[] last;
            long count;
            using (var reader = page.ExecuteReader())
            {
                reader.Read();
                count = reader.GetInt64(1);
                if (count == 0)
                {
                    return new BlobSweepPage([], null);
                }

                last = (byte[])reader.GetValue(0);
            }

            var sweep = session.Command(s.dryRun ? FindUnreferencedBlobsSql : DeleteUnreferencedBlobsSql, "@after", "@last", "@since");
            sweep.Parameters[0].Value = s.after;
            sweep.Parameters[1].Value = last;
            sweep.Parameters[2].Value = ToUnix(s.since);
            var unreferenced = new List<SizedBlob>();
            using (var reader = sweep.ExecuteReader())
            {
                while (reader.Read())
                {
                    unreferenced.Add(new SizedBlob(session.ReadDigest(reader, 0), reader.GetInt64(1)));
                }
            }

            return new BlobSweepPage(unreferenced, count < s.limit ? null : BlobDigest.FromBytes(last));
        }, cancellationToken);
    }

    /// <summary>Runs a DELETE … RETURNING of sizes: how many rows went, and their sizes' sum.</summary>
    private static RemovedEntries SumSizes(SqliteCommand command)
    {
        long count = 0, bytes = 0;
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            count++;
            bytes += reader.GetInt64(0);
        }

        return new RemovedEntries(count, bytes);
    }
}
