using Flywheel.Cache.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string GetActionResultSql =
        "SELECT result FROM action_results WHERE cache_id = $1 AND action_hash = $2";

    private const string PutActionResultSql =
        "INSERT INTO action_results (cache_id, action_hash, result, size, created_at, last_access) " +
        "VALUES ($1, $2, $3, $4, $5, $5) " +
        "ON CONFLICT (cache_id, action_hash) DO UPDATE SET " +
        "result = excluded.result, size = excluded.size, created_at = excluded.created_at, last_access = excluded.last_access";

    // The hot path of REAPI FindMissingBlobs: $1 packs distinct digests 32 bytes each (SizedBlobLookup); each slice
    // is probed on the cache's memberships by their primary key (cache $3): a cache sees only the blobs it owns. The
    // answer is each owned digest's index in the pack and its size.
    private const string FindSizedBlobsSql =
        "SELECT i.n, c.size FROM generate_series(0, $2 - 1) AS i (n) " +
        "JOIN cache_blobs AS c ON c.cache_id = $3 AND c.digest = substring($1 FROM i.n * 32 + 1 FOR 32)";

    // Forward only, rows locked in key order first (see TouchNarInfosSql).
    private const string TouchActionResultsSql =
        "UPDATE action_results AS a SET last_access = GREATEST(a.last_access, $1) " +
        "FROM (SELECT action_hash FROM action_results WHERE cache_id = $2 AND action_hash = ANY($3) AND last_access < $1 " +
        "ORDER BY action_hash FOR NO KEY UPDATE) AS l " +
        "WHERE a.cache_id = $2 AND a.action_hash = l.action_hash";

    public Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, actionHash), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetActionResultSql).With(s.cacheId).With(s.actionHash);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? reader.GetFieldValue<byte[]>(0) : null;
        }, cancellationToken);

    public Task TouchActionResultsAsync(
        long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actionHashes);
        if (actionHashes.Count == 0)
        {
            return Task.CompletedTask;
        }

        return RunAsync((cacheId, actionHashes, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, TouchActionResultsSql)
                .With(ToUnix(s.when)).With(s.cacheId).WithDigests(s.actionHashes);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task PutActionResultAsync(
        long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken) =>
        RunAsync((cacheId, actionHash, actionResult, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, PutActionResultSql)
                .With(s.cacheId).With(s.actionHash).With(s.actionResult).With((long)s.actionResult.Length).With(ToUnix(s.when));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public async Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(long cacheId, IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken)
    {
        using var lookup = SizedBlobLookup.Create(blobs);
        if (lookup.Count == 0)
        {
            return lookup.MissingPositions();
        }

        return await RunAsync((lookup, cacheId), static async (connection, s, ct) =>
        {
            var lookup = s.lookup;
            // The pack goes out as a slice of its pooled buffer (Npgsql writes ReadOnlyMemory<byte> as bytea).
            await using var command = PostgresCommands.Create(connection, FindSizedBlobsSql).With(lookup.Packed).With(lookup.Count).With(s.cacheId);
            await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    lookup.Found(reader.GetInt32(0), reader.GetInt64(1));
                }
            }

            return lookup.MissingPositions();
        }, cancellationToken).ConfigureAwait(false);
    }
}
