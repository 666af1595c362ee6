using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

/// <summary>
/// The statements SQLite runs its own way, on the session directly (no per-call wrappers): the narinfo lookup of
/// every GET, the two FindMissingBlobs lookups and the access-time batches.
/// </summary>
public sealed partial class SqliteMetadataStore
{
    // The hot path: one primary-key lookup, prepared once per pooled connection.
    private const string GetNarInfoSql = "SELECT " + NarInfoColumns + " FROM narinfos WHERE cache_id = $1 AND store_path_hash = $2";

    // The key of json_each is the position in the array: the answer names missing digests by index, so
    // nothing is parsed back. GROUP BY folds duplicates of one digest into its first position.
    private const string FindMissingBlobsSql =
        "SELECT MIN(j.key) FROM json_each($1) AS j WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.digest = unhex(j.value)) GROUP BY j.value ORDER BY 1";

    // $2 packs distinct digests 32 bytes each (SizedBlobLookup); a recursive CTE walks it and each slice is probed
    // on the cache's memberships by their primary key (CROSS JOIN keeps the walk outside): a cache sees only the
    // blobs it owns. The answer is each owned digest's index and size.
    private const string FindSizedBlobsSql =
        "WITH RECURSIVE i (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < $1) " +
        "SELECT i.n, c.size FROM i CROSS JOIN cache_blobs AS c WHERE c.cache_id = $3 AND c.digest = substr($2, i.n * 32 + 1, 32)";

    // Access times only move forward, so late or repeated touches write nothing. Each takes $1 the time, $2 the cache, $3 the keys.
    private const string TouchNarInfosSql =
        "UPDATE narinfos SET last_access = $1 WHERE cache_id = $2 AND store_path_hash IN (SELECT value FROM json_each($3)) AND last_access < $1";

    private const string TouchOwnedBlobsSql = // existing memberships only: a read never adds one
        "UPDATE cache_blobs SET last_access = $1 WHERE cache_id = $2 AND digest IN (SELECT unhex(value) FROM json_each($3)) AND last_access < $1";

    private const string TouchActionResultsSql =
        "UPDATE action_results SET last_access = $1 WHERE cache_id = $2 AND action_hash IN (SELECT unhex(value) FROM json_each($3)) AND last_access < $1";

    public override Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return RunAsync((cacheId, storePathHash), static (session, s) =>
        {
            var command = session.Command(GetNarInfoSql, "$1", "$2");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.storePathHash;
            using var reader = command.ExecuteReader();
            return reader.Read() ? IndexRows.NarInfo(reader, s.storePathHash, session.ReadDigest(reader, 1)) : null;
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

        return RunAsync((asked, json: SqliteJson.DigestArray(asked)), static (session, s) =>
        {
            var command = session.Command(FindMissingBlobsSql, "$1");
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

    private protected override Task FindSizedBlobsAsync(long cacheId, SizedBlobLookup lookup, CancellationToken cancellationToken) =>
        RunAsync((lookup, cacheId), static (session, s) =>
        {
            var command = session.Command(FindSizedBlobsSql, "$1", "$2", "$3");
            command.Parameters[0].Value = (long)s.lookup.Count;
            command.Parameters[1].Value = s.lookup.Packed.ToArray(); // Microsoft.Data.Sqlite binds whole byte arrays only
            command.Parameters[2].Value = s.cacheId;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    s.lookup.Found(reader.GetInt32(0), reader.GetInt64(1));
                }
            }

            command.Parameters[1].Value = DBNull.Value; // the cached command must not keep the pack alive
            return true;
        }, cancellationToken);

    public override Task TouchNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset when, CancellationToken cancellationToken) =>
        TouchAsync(TouchNarInfosSql, cacheId, storePathHashes, SqliteJson.StringArray, when, cancellationToken);

    public override Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken) =>
        TouchAsync(TouchOwnedBlobsSql, cacheId, digests, DigestArray, when, cancellationToken);

    public override Task TouchActionResultsAsync(long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken) =>
        TouchAsync(TouchActionResultsSql, cacheId, actionHashes, DigestArray, when, cancellationToken);

    private static string DigestArray(IReadOnlyCollection<BlobDigest> digests) => SqliteJson.DigestArray(digests as IReadOnlyList<BlobDigest> ?? [.. digests]);

    /// <summary>Runs one of the touch statements for a batch of keys, packed as one JSON array.</summary>
    private Task TouchAsync<TKey>(
        string sql, long cacheId, IReadOnlyCollection<TKey> keys, Func<IReadOnlyCollection<TKey>, string> pack, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            return Task.CompletedTask;
        }

        return RunAsync((sql, cacheId, json: pack(keys), when), static (session, s) =>
        {
            var command = session.Command(s.sql, "$1", "$2", "$3");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.cacheId;
            command.Parameters[2].Value = s.json;
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }
}
