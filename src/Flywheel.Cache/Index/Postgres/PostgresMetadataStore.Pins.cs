namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string PinSql =
        "INSERT INTO pins (cache_id, store_path_hash, reason, created_at) VALUES ($1, $2, $3, $4) " +
        "ON CONFLICT (cache_id, store_path_hash) DO NOTHING";

    private const string UnpinSql = "DELETE FROM pins WHERE cache_id = $1 AND store_path_hash = $2";

    private const string ListPinsSql =
        "SELECT store_path_hash, reason, created_at FROM pins WHERE cache_id = $1 ORDER BY store_path_hash COLLATE \"C\"";

    public Task PinAsync(long cacheId, string storePathHash, string reason, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        ArgumentNullException.ThrowIfNull(reason);
        return RunAsync((cacheId, storePathHash, reason, when), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, PinSql)
                .With(s.cacheId).With(s.storePathHash).With(s.reason).With(ToUnix(s.when));
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<bool> UnpinAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return RunAsync((cacheId, storePathHash), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, UnpinSql).With(s.cacheId).With(s.storePathHash);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<PinRecord>> ListPinsAsync(long cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static async (connection, cacheId, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListPinsSql).With(cacheId);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var pins = new List<PinRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                pins.Add(IndexRows.Pin(reader));
            }

            return (IReadOnlyList<PinRecord>)pins;
        }, cancellationToken);
}
