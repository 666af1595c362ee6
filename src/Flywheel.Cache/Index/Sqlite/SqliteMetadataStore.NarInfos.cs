using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string PutNarInfoSql =
        "INSERT INTO narinfos (cache_id, store_path_hash, store_path, file_hash, file_size, nar_hash, nar_size, refs, deriver, text, created_at, last_access) " +
        "VALUES (@cache_id, @store_path_hash, @store_path, @file_hash, @file_size, @nar_hash, @nar_size, @refs, @deriver, @text, @created_at, @last_access) " +
        "ON CONFLICT (cache_id, store_path_hash) DO UPDATE SET " +
        "store_path = excluded.store_path, file_hash = excluded.file_hash, file_size = excluded.file_size, " +
        "nar_hash = excluded.nar_hash, nar_size = excluded.nar_size, refs = excluded.refs, deriver = excluded.deriver, " +
        "text = excluded.text, created_at = excluded.created_at, last_access = excluded.last_access";

    // The hot path: one primary-key lookup, prepared once per pooled connection.
    private const string GetNarInfoSql =
        "SELECT store_path, file_hash, file_size, nar_hash, nar_size, refs, deriver, text, created_at, last_access " +
        "FROM narinfos WHERE cache_id = @cache_id AND store_path_hash = @store_path_hash";

    private const string FindNarInfosSql =
        "SELECT store_path_hash FROM narinfos " +
        "WHERE cache_id = @cache_id AND store_path_hash IN (SELECT value FROM json_each(@hashes))";

    // Access times only move forward, so late or repeated touches write nothing.
    private const string TouchNarInfosSql =
        "UPDATE narinfos SET last_access = @when " +
        "WHERE cache_id = @cache_id AND store_path_hash IN (SELECT value FROM json_each(@hashes)) AND last_access < @when";

    public Task PutNarInfoAsync(long cacheId, NarInfoRecord narInfo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(narInfo);
        return RunAsync((cacheId, narInfo), static (session, s) =>
        {
            var n = s.narInfo;
            var command = session.Command(PutNarInfoSql,
                "@cache_id", "@store_path_hash", "@store_path", "@file_hash", "@file_size", "@nar_hash", "@nar_size",
                "@refs", "@deriver", "@text", "@created_at", "@last_access");
            var p = command.Parameters;
            p[0].Value = s.cacheId;
            p[1].Value = n.StorePathHash;
            p[2].Value = n.StorePath;
            p[3].Value = n.FileHash.ToBytes();
            p[4].Value = n.FileSize;
            p[5].Value = n.NarHash;
            p[6].Value = n.NarSize;
            p[7].Value = n.References;
            p[8].Value = OrNull(n.Deriver);
            p[9].Value = n.Text;
            p[10].Value = ToUnix(n.CreatedAt);
            p[11].Value = ToUnix(n.LastAccess);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);
    }

    public Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHash);
        return RunAsync((cacheId, storePathHash), static (session, s) =>
        {
            var command = session.Command(GetNarInfoSql, "@cache_id", "@store_path_hash");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.storePathHash;
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            return IndexRows.NarInfo(reader, s.storePathHash, session.ReadDigest(reader, 1));
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

        return RunAsync((cacheId, json: SqliteJson.StringArray(storePathHashes)), static (session, s) =>
        {
            var command = session.Command(FindNarInfosSql, "@cache_id", "@hashes");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.json;
            var found = new HashSet<string>(StringComparer.Ordinal);
            using var reader = command.ExecuteReader();
            while (reader.Read())
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

        return RunAsync((cacheId, json: SqliteJson.StringArray(storePathHashes), when), static (session, s) =>
        {
            var command = session.Command(TouchNarInfosSql, "@when", "@cache_id", "@hashes");
            command.Parameters[0].Value = ToUnix(s.when);
            command.Parameters[1].Value = s.cacheId;
            command.Parameters[2].Value = s.json;
            return command.ExecuteNonQuery();
        }, cancellationToken);
    }
}
