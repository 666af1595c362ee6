using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string RecordBlobSql =
        "INSERT INTO blobs (digest, size, created_at, last_access) VALUES ($1, $2, $3, $3) " +
        "ON CONFLICT (digest) DO UPDATE SET last_access = GREATEST(blobs.last_access, excluded.last_access) " +
        "WHERE blobs.last_access < excluded.last_access";

    // The ordinality is the (1-based) position in the array: the answer names missing digests by position, so
    // nothing is parsed back. GROUP BY folds duplicates of one digest into its first position.
    private const string FindMissingBlobsSql =
        "SELECT min(d.ord)::int FROM unnest($1::bytea[]) WITH ORDINALITY AS d (digest, ord) " +
        "WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = d.digest) " +
        "GROUP BY d.digest ORDER BY 1";

    // Only blobs the index knows join the cache (their size comes from blobs); times only move forward. Rows are
    // written in key order, so two overlapping batches from different gateways cannot deadlock.
    private const string AddCacheBlobsSql =
        "INSERT INTO cache_blobs (cache_id, digest, size, last_access) " +
        "SELECT $1, b.digest, b.size, $2 FROM blobs AS b WHERE b.digest = ANY($3) ORDER BY b.digest " +
        "ON CONFLICT (cache_id, digest) DO UPDATE SET last_access = GREATEST(cache_blobs.last_access, excluded.last_access) " +
        "WHERE cache_blobs.last_access < excluded.last_access";

    // Existing memberships only (a read never adds one); forward only, rows locked in key order first (see TouchNarInfosSql).
    private const string TouchOwnedBlobsSql =
        "UPDATE cache_blobs AS c SET last_access = GREATEST(c.last_access, $2) " +
        "FROM (SELECT digest FROM cache_blobs WHERE cache_id = $1 AND digest = ANY($3) AND last_access < $2 " +
        "ORDER BY digest FOR NO KEY UPDATE) AS l " +
        "WHERE c.cache_id = $1 AND c.digest = l.digest";

    private const string CacheBlobSizeSql = "SELECT size FROM cache_blobs WHERE cache_id = $1 AND digest = $2";

    public Task RecordBlobAsync(BlobDigest digest, long size, DateTimeOffset when, CancellationToken cancellationToken) =>
        RunAsync((digest, size, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RecordBlobSql).With(s.digest).With(s.size).With(ToUnix(s.when));
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
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

        return RunAsync(asked, static async (connection, asked, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, FindMissingBlobsSql).WithDigests(asked);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var missing = new List<BlobDigest>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                missing.Add(asked[reader.GetInt32(0) - 1]);
            }

            return (IReadOnlyList<BlobDigest>)missing;
        }, cancellationToken);
    }

    public Task AddCacheBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken) =>
        WriteCacheBlobsAsync(AddCacheBlobsSql, cacheId, digests, when, cancellationToken);

    public Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken) =>
        WriteCacheBlobsAsync(TouchOwnedBlobsSql, cacheId, digests, when, cancellationToken);

    public Task<long?> GetCacheBlobSizeAsync(long cacheId, BlobDigest digest, CancellationToken cancellationToken) =>
        RunAsync((cacheId, digest), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, CacheBlobSizeSql).With(s.cacheId).With(s.digest);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? reader.GetInt64(0) : (long?)null;
        }, cancellationToken);

    /// <summary>Runs <see cref="AddCacheBlobsSql"/> or <see cref="TouchOwnedBlobsSql"/> (the same parameters) for a batch.</summary>
    private Task WriteCacheBlobsAsync(string sql, long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            return Task.CompletedTask;
        }

        return RunAsync((sql, cacheId, digests, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, s.sql)
                .With(s.cacheId).With(ToUnix(s.when)).WithDigests(s.digests);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }
}
