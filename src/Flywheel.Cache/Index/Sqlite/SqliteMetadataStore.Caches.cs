using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string CacheColumns =
        "id, name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes";

    private const string CreateCacheSql =
        "INSERT INTO caches (name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes) " +
        "VALUES (@name, @is_public, @priority, @store_dir, @signing_secret_key, @public_key, @retention_seconds, @created_at, @quota_bytes) " +
        "ON CONFLICT (name) DO NOTHING RETURNING " + CacheColumns;

    private const string GetCacheSql = "SELECT " + CacheColumns + " FROM caches WHERE name = @name";

    private const string ListCachesSql = "SELECT " + CacheColumns + " FROM caches ORDER BY name";

    private const string UpdateCacheSql =
        "UPDATE caches SET is_public = @is_public, priority = @priority, retention_seconds = @retention_seconds, quota_bytes = @quota_bytes " +
        "WHERE name = @name RETURNING " + CacheColumns;

    public Task<CacheRecord> CreateCacheAsync(CacheRecord cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return RunAsync((cache, store: this), static (session, s) =>
        {
            var c = s.cache;
            var command = session.Command(CreateCacheSql,
                "@name", "@is_public", "@priority", "@store_dir", "@signing_secret_key", "@public_key", "@retention_seconds", "@created_at", "@quota_bytes");
            var p = command.Parameters;
            p[0].Value = c.Name;
            p[1].Value = c.IsPublic;
            p[2].Value = c.Priority;
            p[3].Value = c.StoreDir;
            p[4].Value = c.SigningSecretKey;
            p[5].Value = c.PublicKey;
            p[6].Value = OrNull(RetentionSeconds(c.Retention));
            p[7].Value = s.store.Now();
            p[8].Value = OrNull(c.QuotaBytes);
            return ReadSingleCache(command)
                ?? throw new CacheException(CacheError.Conflict, $"a cache named '{c.Name}' exists already");
        }, cancellationToken);
    }

    public Task<CacheRecord?> GetCacheAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        return RunAsync(name, static (session, name) =>
        {
            var command = session.Command(GetCacheSql, "@name");
            command.Parameters[0].Value = name;
            return ReadSingleCache(command);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<CacheRecord>> ListCachesAsync(CancellationToken cancellationToken) =>
        RunAsync(0, static (session, _) =>
        {
            var command = session.Command(ListCachesSql);
            var caches = new List<CacheRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                caches.Add(ReadCache(reader));
            }

            return (IReadOnlyList<CacheRecord>)caches;
        }, cancellationToken);

    /// <summary>Updates IsPublic, Priority, Retention and QuotaBytes of the cache with the record's <see cref="CacheRecord.Name"/>.</summary>
    public Task<CacheRecord> UpdateCacheAsync(CacheRecord cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return RunAsync(cache, static (session, c) =>
        {
            var command = session.Command(UpdateCacheSql, "@is_public", "@priority", "@retention_seconds", "@quota_bytes", "@name");
            var p = command.Parameters;
            p[0].Value = c.IsPublic;
            p[1].Value = c.Priority;
            p[2].Value = OrNull(RetentionSeconds(c.Retention));
            p[3].Value = OrNull(c.QuotaBytes);
            p[4].Value = c.Name;
            return ReadSingleCache(command) ?? throw CacheException.NotFound($"no cache named '{c.Name}'");
        }, cancellationToken);
    }

    private static long? RetentionSeconds(TimeSpan? retention) => retention is { } r ? (long)r.TotalSeconds : null;

    private static CacheRecord? ReadSingleCache(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        return reader.Read() ? ReadCache(reader) : null;
    }

    private static CacheRecord ReadCache(SqliteDataReader reader) => IndexRows.Cache(reader);
}
