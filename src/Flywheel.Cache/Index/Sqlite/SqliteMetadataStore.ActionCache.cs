using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string GetActionResultSql =
        "SELECT result FROM action_results WHERE cache_id = @cache_id AND action_hash = @action_hash";

    private const string PutActionResultSql =
        "INSERT INTO action_results (cache_id, action_hash, result, size, created_at, last_access) " +
        "VALUES (@cache_id, @action_hash, @result, @size, @when, @when) " +
        "ON CONFLICT (cache_id, action_hash) DO UPDATE SET " +
        "result = excluded.result, size = excluded.size, created_at = excluded.created_at, last_access = excluded.last_access";

    // @digests packs distinct digests 32 bytes each (SizedBlobLookup); a recursive CTE walks it and each slice is
    // probed on the cache's memberships by their primary key (CROSS JOIN keeps the walk outside): a cache sees only
    // the blobs it owns. The answer is each owned digest's index and size.
    private const string FindSizedBlobsSql =
        "WITH RECURSIVE i (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < @count) " +
        "SELECT i.n, c.size FROM i CROSS JOIN cache_blobs AS c WHERE c.cache_id = @cache_id AND c.digest = substr(@digests, i.n * 32 + 1, 32)";

    // Access times only move forward, so late or repeated touches write nothing.
    private const string TouchActionResultsSql =
        "UPDATE action_results SET last_access = @when " +
        "WHERE cache_id = @cache_id AND action_hash IN (SELECT unhex(value) FROM json_each(@hashes)) AND last_access < @when";

    public Task TouchActionResultsAsync(
        long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actionHashes);
        if (actionHashes.Count == 0)
        {
            return Task.CompletedTask;
        }

        var list = actionHashes as IReadOnlyList<BlobDigest> ?? [.. actionHashes];
        return RunAsync((cacheId, json: SqliteJson.DigestArray(list), when), static (session, s) =>
        {
            var command = session.Command(TouchActionResultsSql, "@when", "@cache_id", "@hashes");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.cacheId;
            command.Parameters[2].Value = s.json;
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }

    public Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, actionHash), static (session, s) =>
        {
            var command = session.Command(GetActionResultSql, "@cache_id", "@action_hash");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.actionHash.ToBytes();
            using var reader = command.ExecuteReader();
            return reader.Read() ? (byte[]?)reader.GetFieldValue<byte[]>(0) : null;
        }, cancellationToken);

    public Task PutActionResultAsync(
        long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken) =>
        RunAsync((cacheId, actionHash, actionResult, when), static (session, s) =>
        {
            var command = session.Command(PutActionResultSql, "@cache_id", "@action_hash", "@result", "@size", "@when");
            var p = command.Parameters;
            p[0].Value = s.cacheId;
            p[1].Value = s.actionHash.ToBytes();
            p[2].Value = s.actionResult.ToArray();
            p[3].Value = (long)s.actionResult.Length;
            p[4].Value = ToUnix(s.when);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);

    public async Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(long cacheId, IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken)
    {
        using var lookup = SizedBlobLookup.Create(blobs);
        if (lookup.Count == 0)
        {
            return lookup.MissingPositions();
        }

        return await RunAsync((lookup, cacheId), static (session, s) =>
        {
            var lookup = s.lookup;
            var command = session.Command(FindSizedBlobsSql, "@count", "@digests", "@cache_id");
            command.Parameters[0].Value = (long)lookup.Count;
            command.Parameters[1].Value = lookup.Packed.ToArray(); // Microsoft.Data.Sqlite binds whole byte arrays only
            command.Parameters[2].Value = s.cacheId;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    lookup.Found(reader.GetInt32(0), reader.GetInt64(1));
                }
            }

            command.Parameters[1].Value = DBNull.Value; // the cached command must not keep the pack alive

            return lookup.MissingPositions();
        }, cancellationToken).ConfigureAwait(false);
    }
}
