using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string RecordBlobSql =
        "INSERT INTO blobs (digest, size, created_at, last_access) VALUES (@digest, @size, @when, @when) " +
        "ON CONFLICT (digest) DO UPDATE SET last_access = excluded.last_access WHERE blobs.last_access < excluded.last_access";

    // The key of json_each is the position in the array: the answer names missing digests by index, so
    // nothing is parsed back. GROUP BY folds duplicates of one digest into its first position.
    private const string FindMissingBlobsSql =
        "SELECT MIN(j.key) FROM json_each(@digests) AS j " +
        "WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = unhex(j.value)) " +
        "GROUP BY j.value ORDER BY 1";

    // Only blobs the index knows join the cache (their size comes from blobs); times only move forward.
    private const string AddCacheBlobsSql =
        "INSERT INTO cache_blobs (cache_id, digest, size, last_access) " +
        "SELECT @cache_id, b.digest, b.size, @when FROM blobs AS b WHERE b.digest IN (SELECT unhex(value) FROM json_each(@digests)) " +
        "ON CONFLICT (cache_id, digest) DO UPDATE SET last_access = excluded.last_access WHERE cache_blobs.last_access < excluded.last_access";

    // Existing memberships only: a read never adds one.
    private const string TouchOwnedBlobsSql =
        "UPDATE cache_blobs SET last_access = @when " +
        "WHERE cache_id = @cache_id AND digest IN (SELECT unhex(value) FROM json_each(@digests)) AND last_access < @when";

    private const string CacheBlobSizeSql = "SELECT size FROM cache_blobs WHERE cache_id = @cache_id AND digest = @digest";

    public Task RecordBlobAsync(BlobDigest digest, long size, DateTimeOffset when, CancellationToken cancellationToken) =>
        RunAsync((digest, size, when), static (session, s) =>
        {
            var command = session.Command(RecordBlobSql, "@digest", "@size", "@when");
            command.Parameters[0].Value = s.digest.ToBytes();
            command.Parameters[1].Value = s.size;
            command.Parameters[2].Value = ToUnix(s.when);
            return command.ExecuteNonQuery();
        }, cancellationToken);

    /// <summary>Which digests the index lacks, in one statement; the empty blob is never missing.</summary>
    public Task<IReadOnlyList<BlobDigest>> FindMissingBlobsAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        var asked = new List<BlobDigest>(digests.Count);
        foreach (var digest in digests)
        {
            if (digest != BlobDigest.Empty)
            {
                asked.Add(digest);
            }
        }

        if (asked.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<BlobDigest>>([]);
        }

        return RunAsync((asked, json: SqliteJson.DigestArray(asked)), static (session, s) =>
        {
            var command = session.Command(FindMissingBlobsSql, "@digests");
            command.Parameters[0].Value = s.json;
            var missing = new List<BlobDigest>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                missing.Add(s.asked[reader.GetInt32(0)]);
            }

            return (IReadOnlyList<BlobDigest>)missing;
        }, cancellationToken);
    }

    public Task AddCacheBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken) =>
        WriteCacheBlobsAsync(AddCacheBlobsSql, cacheId, digests, when, cancellationToken);

    public Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken) =>
        WriteCacheBlobsAsync(TouchOwnedBlobsSql, cacheId, digests, when, cancellationToken);

    public Task<long?> GetCacheBlobSizeAsync(long cacheId, BlobDigest digest, CancellationToken cancellationToken) =>
        RunAsync((cacheId, digest), static (session, s) =>
        {
            var command = session.Command(CacheBlobSizeSql, "@cache_id", "@digest");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.digest.ToBytes();
            using var reader = command.ExecuteReader();
            return reader.Read() ? reader.GetInt64(0) : (long?)null;
        }, cancellationToken);

    /// <summary>Runs <see cref="AddCacheBlobsSql"/> or <see cref="TouchOwnedBlobsSql"/> (the same parameters) for a batch.</summary>
    private Task WriteCacheBlobsAsync(string sql, long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            return Task.CompletedTask;
        }

        var list = digests as IReadOnlyList<BlobDigest> ?? [.. digests];
        return RunAsync((sql, cacheId, json: SqliteJson.DigestArray(list), when), static (session, s) =>
        {
            var command = session.Command(s.sql, "@cache_id", "@when", "@digests");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = ToUnix(s.when);
            command.Parameters[2].Value = s.json;
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }
}
