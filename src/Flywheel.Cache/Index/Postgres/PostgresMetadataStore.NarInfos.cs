using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string PutNarInfoSql =
        "INSERT INTO narinfos (cache_id, store_path_hash, store_path, file_hash, file_size, nar_hash, nar_size, refs, deriver, text, created_at, last_access) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) " +
        "ON CONFLICT (cache_id, store_path_hash) DO UPDATE SET " +
        "store_path = excluded.store_path, file_hash = excluded.file_hash, file_size = excluded.file_size, " +
        "nar_hash = excluded.nar_hash, nar_size = excluded.nar_size, refs = excluded.refs, deriver = excluded.deriver, " +
        "text = excluded.text, created_at = excluded.created_at, last_access = excluded.last_access";

    // The hot path: one primary-key lookup, auto-prepared on each pooled connection.
    private const string GetNarInfoSql =
        "SELECT store_path, file_hash, file_size, nar_hash, nar_size, refs, deriver, text, created_at, last_access " +
        "FROM narinfos WHERE cache_id = $1 AND store_path_hash = $2";

    private const string FindNarInfosSql =
        "SELECT store_path_hash FROM narinfos WHERE cache_id = $1 AND store_path_hash = ANY($2)";

    // Access times only move forward (GREATEST, and rows already later are not written). Rows are locked in key
    // order first, so two overlapping batches from different gateways cannot deadlock.
    private const string TouchNarInfosSql =
        "UPDATE narinfos AS n SET last_access = GREATEST(n.last_access, $1) " +
        "FROM (SELECT store_path_hash FROM narinfos WHERE cache_id = $2 AND store_path_hash = ANY($3) AND last_access < $1 " +
        "ORDER BY store_path_hash FOR NO KEY UPDATE) AS l " +
        "WHERE n.cache_id = $2 AND n.store_path_hash = l.store_path_hash";

    public Task PutNarInfoAsync(long cacheId, NarInfoRecord narInfo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(narInfo);
        return RunAsync((cacheId, narInfo), static async (connection, s, ct) =>
        {
            var n = s.narInfo;
            await using var command = PostgresCommands.Create(connection, PutNarInfoSql)
                .With(s.cacheId).With(n.StorePathHash).With(n.StorePath).With(n.FileHash).With(n.FileSize).With(n.NarHash).With(n.NarSize)
                .With(n.References).WithNullable(n.Deriver, NpgsqlDbType.Text).With(n.Text).With(ToUnix(n.CreatedAt)).With(ToUnix(n.LastAccess));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return RunAsync((cacheId, storePathHash), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetNarInfoSql).With(s.cacheId).With(s.storePathHash);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return IndexRows.NarInfo(reader, s.storePathHash, reader.GetDigest(1));
        }, cancellationToken);
    }

    public Task<IReadOnlySet<string>> FindNarInfosAsync(
        long cacheId, IReadOnlyCollection<string> storePathHashes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHashes);
        if (storePathHashes.Count == 0)
        {
            return Task.FromResult<IReadOnlySet<string>>(new HashSet<string>(StringComparer.Ordinal));
        }

        return RunAsync((cacheId, hashes: storePathHashes.ToArray()), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, FindNarInfosSql).With(s.cacheId).With(s.hashes);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var found = new HashSet<string>(StringComparer.Ordinal);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found.Add(reader.GetString(0));
            }

            return (IReadOnlySet<string>)found;
        }, cancellationToken);
    }

    public Task TouchNarInfosAsync(
        long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHashes);
        if (storePathHashes.Count == 0)
        {
            return Task.CompletedTask;
        }

        return RunAsync((cacheId, hashes: storePathHashes.ToArray(), when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, TouchNarInfosSql).With(ToUnix(s.when)).With(s.cacheId).With(s.hashes);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }
}
