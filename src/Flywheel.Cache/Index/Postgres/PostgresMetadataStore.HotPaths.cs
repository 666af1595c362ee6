using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Postgres;

/// <summary>
/// The statements PostgreSQL runs its own way: the narinfo lookup of every GET, the two FindMissingBlobs lookups
/// (the pack sent as a slice of its pooled buffer) and the access-time batches, which lock rows in key order.
/// </summary>
public sealed partial class PostgresMetadataStore
{
    // The hot path: one primary-key lookup, auto-prepared on each pooled connection.
    private const string GetNarInfoSql = "SELECT " + NarInfoColumns + " FROM narinfos WHERE cache_id = $1 AND store_path_hash = $2";

    // The ordinality is the (1-based) position in the array: the answer names missing digests by position, so
    // nothing is parsed back. GROUP BY folds duplicates of one digest into its first position.
    private const string FindMissingBlobsSql =
        "SELECT min(d.ord)::int FROM unnest($1::bytea[]) WITH ORDINALITY AS d (digest, ord) " +
        "WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = d.digest) GROUP BY d.digest ORDER BY 1";

    // The hot path of REAPI FindMissingBlobs: $1 packs distinct digests 32 bytes each (SizedBlobLookup); each slice
    // is probed on the cache's memberships by their primary key (cache $3): a cache sees only the blobs it owns. The
    // answer is each owned digest's index in the pack and its size.
    private const string FindSizedBlobsSql =
        "SELECT i.n, c.size FROM generate_series(0, $2 - 1) AS i (n) " +
        "JOIN cache_blobs AS c ON c.cache_id = $3 AND c.digest = substring($1 FROM i.n * 32 + 1 FOR 32)";

    // Access times only move forward (GREATEST, and rows already later are not written). Rows are locked in key
    // order first, so two overlapping batches from different gateways cannot deadlock. $1 the time, $2 the cache, $3 the keys.
    private const string TouchNarInfosSql =
        "UPDATE narinfos AS n SET last_access = GREATEST(n.last_access, $1) " +
        "FROM (SELECT store_path_hash FROM narinfos WHERE cache_id = $2 AND store_path_hash = ANY($3) AND last_access < $1 " +
        "ORDER BY store_path_hash FOR NO KEY UPDATE) AS l WHERE n.cache_id = $2 AND n.store_path_hash = l.store_path_hash";

    private const string TouchOwnedBlobsSql = // existing memberships only: a read never adds one
        "UPDATE cache_blobs AS c SET last_access = GREATEST(c.last_access, $1) " +
        "FROM (SELECT digest FROM cache_blobs WHERE cache_id = $2 AND digest = ANY($3) AND last_access < $1 " +
        "ORDER BY digest FOR NO KEY UPDATE) AS l WHERE c.cache_id = $2 AND c.digest = l.digest";

    private const string TouchActionResultsSql =
        "UPDATE action_results AS a SET last_access = GREATEST(a.last_access, $1) " +
        "FROM (SELECT action_hash FROM action_results WHERE cache_id = $2 AND action_hash = ANY($3) AND last_access < $1 " +
        "ORDER BY action_hash FOR NO KEY UPDATE) AS l WHERE a.cache_id = $2 AND a.action_hash = l.action_hash";

    public override Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return RunAsync((cacheId, storePathHash), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetNarInfoSql).With(s.cacheId).With(s.storePathHash);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? IndexRows.NarInfo(reader, s.storePathHash, reader.GetDigest(1)) : null;
        }, cancellationToken);
    }

    /// <summary>Which digests the index lacks, in one statement; the empty blob is never missing.</summary>
    public override Task<IReadOnlyList<BlobDigest>> FindMissingBlobsAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken)
    {
        var asked = SizedBlobLookup.WithoutEmpty(digests);
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

    private protected override Task FindSizedBlobsAsync(long cacheId, SizedBlobLookup lookup, CancellationToken cancellationToken) =>
        RunAsync((lookup, cacheId), static async (connection, s, ct) =>
        {
            // The pack goes out as a slice of its pooled buffer (Npgsql writes ReadOnlyMemory<byte> as bytea).
            await using var command = PostgresCommands.Create(connection, FindSizedBlobsSql).With(s.lookup.Packed).With(s.lookup.Count).With(s.cacheId);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                s.lookup.Found(reader.GetInt32(0), reader.GetInt64(1));
            }

            return true;
        }, cancellationToken);

    public override Task TouchNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset when, CancellationToken cancellationToken) =>
        TouchAsync(TouchNarInfosSql, cacheId, storePathHashes, static (c, keys) => c.AddStrings(keys), when, cancellationToken);

    public override Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken) =>
        TouchAsync(TouchOwnedBlobsSql, cacheId, digests, static (c, keys) => c.AddDigests(keys), when, cancellationToken);

    public override Task TouchActionResultsAsync(long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken) =>
        TouchAsync(TouchActionResultsSql, cacheId, actionHashes, static (c, keys) => c.AddDigests(keys), when, cancellationToken);

    /// <summary>Runs one of the touch statements for a batch of keys (an array parameter).</summary>
    private Task TouchAsync<TKey>(
        string sql, long cacheId, IReadOnlyCollection<TKey> keys, Action<IndexCommand, IReadOnlyCollection<TKey>> addKeys, DateTimeOffset when,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return keys.Count == 0
            ? Task.CompletedTask
            : ExecuteAsync(sql, (cacheId, keys, addKeys, when), static (c, s) => s.addKeys(c.Add(s.when).Add(s.cacheId), s.keys), cancellationToken);
    }
}
