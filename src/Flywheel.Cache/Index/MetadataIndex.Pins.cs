namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IPinStore
{
    private const string PinSql =
        "INSERT INTO pins (cache_id, store_path_hash, reason, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (cache_id, store_path_hash) DO NOTHING";

    private const string UnpinSql = "DELETE FROM pins WHERE cache_id = $1 AND store_path_hash = $2";

    private static readonly DialectSql ListPinsSql =
        new(d => $"SELECT store_path_hash, reason, created_at FROM pins WHERE cache_id = $1 ORDER BY store_path_hash{d.Ordinal}");

    public Task PinAsync(long cacheId, string storePathHash, string reason, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        ArgumentNullException.ThrowIfNull(reason);
        return ExecuteAsync(PinSql, (cacheId, storePathHash, reason, when),
            static (c, s) => c.Add(s.cacheId).Add(s.storePathHash).Add(s.reason).Add(s.when), cancellationToken);
    }

    public async Task<bool> UnpinAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return await ExecuteAsync(UnpinSql, (cacheId, storePathHash), static (c, s) => c.Add(s.cacheId).Add(s.storePathHash), cancellationToken)
            .ConfigureAwait(false) > 0;
    }

    public Task<IReadOnlyList<PinRecord>> ListPinsAsync(long cacheId, CancellationToken cancellationToken) =>
        QueryAsync(ListPinsSql.For(Dialect), cacheId, static (c, id) => c.Add(id), static (_, r) => IndexRows.Pin(r), cancellationToken);
}
