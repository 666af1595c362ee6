namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string PinSql =
        "INSERT INTO pins (cache_id, store_path_hash, reason, created_at) VALUES (@cache_id, @store_path_hash, @reason, @created_at) " +
        "ON CONFLICT (cache_id, store_path_hash) DO NOTHING";

    private const string UnpinSql = "DELETE FROM pins WHERE cache_id = @cache_id AND store_path_hash = @store_path_hash";

    private const string ListPinsSql =
        "SELECT store_path_hash, reason, created_at FROM pins WHERE cache_id = @cache_id ORDER BY store_path_hash";

    public Task PinAsync(long cacheId, string storePathHash, string reason, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        ArgumentNullException.ThrowIfNull(reason);
        return RunAsync((cacheId, storePathHash, reason, when), static (session, s) =>
        {
            var command = session.Command(PinSql, "@cache_id", "@store_path_hash", "@reason", "@created_at");
            var p = command.Parameters;
            p[0].Value = s.cacheId;
            p[1].Value = s.storePathHash;
            p[2].Value = s.reason;
            p[3].Value = ToUnix(s.when);
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }

    public Task<bool> UnpinAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return RunAsync((cacheId, storePathHash), static (session, s) =>
        {
            var command = session.Command(UnpinSql, "@cache_id", "@store_path_hash");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.storePathHash;
            return command.ExecuteNonQuery() > 0;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<PinRecord>> ListPinsAsync(long cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static (session, cacheId) =>
        {
            var command = session.Command(ListPinsSql, "@cache_id");
            command.Parameters[0].Value = cacheId;
            var pins = new List<PinRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                pins.Add(IndexRows.Pin(reader));
            }

            return (IReadOnlyList<PinRecord>)pins;
        }, cancellationToken);
}
