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

    // The hot path of REAPI FindMissingBlobs: the two arrays are zipped into rows with their (1-based) position;
    // a row is missing unless a blob with that digest has that size. GROUP BY folds repeats of one
    // (digest, size) into its first position.
    private const string FindMissingSizedBlobsSql =
        "SELECT min(d.ord)::int FROM unnest($1::bytea[], $2::bigint[]) WITH ORDINALITY AS d (digest, size, ord) " +
        "WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = d.digest AND blobs.size = d.size) " +
        "GROUP BY d.digest, d.size ORDER BY 1";

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

    public Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        if (blobs.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<int>>([]);
        }

        var digests = new byte[blobs.Count][];
        var sizes = new long[blobs.Count];
        for (var i = 0; i < blobs.Count; i++)
        {
            if (blobs[i].Size < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(blobs), $"blob {blobs[i].Digest} has a negative size");
            }

            digests[i] = blobs[i].Digest.ToBytes();
            sizes[i] = blobs[i].Size;
        }

        return RunAsync((blobs, digests, sizes), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, FindMissingSizedBlobsSql);
            command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = s.digests, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = s.sizes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var missing = new List<int>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var position = reader.GetInt32(0) - 1;
                var blob = s.blobs[position];
                if (blob.Size != 0 || blob.Digest != BlobDigest.Empty)
                {
                    missing.Add(position);
                }
            }

            return (IReadOnlyList<int>)missing;
        }, cancellationToken);
    }
}
