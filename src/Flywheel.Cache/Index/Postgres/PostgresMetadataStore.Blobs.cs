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

    // Forward only, rows locked in key order first (see TouchNarInfosSql).
    private const string TouchBlobsSql =
        "UPDATE blobs AS b SET last_access = GREATEST(b.last_access, $1) " +
        "FROM (SELECT digest FROM blobs WHERE digest = ANY($2) AND last_access < $1 ORDER BY digest FOR NO KEY UPDATE) AS l " +
        "WHERE b.digest = l.digest";

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

    public Task TouchBlobsAsync(IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            return Task.CompletedTask;
        }

        return RunAsync((digests, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, TouchBlobsSql).With(ToUnix(s.when)).WithDigests(s.digests);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }
}
