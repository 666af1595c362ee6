using Npgsql;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    private const string CacheColumns =
        "id, name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes";

    private const string CreateCacheSql =
        "INSERT INTO caches (name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) " +
        "ON CONFLICT (name) DO NOTHING RETURNING " + CacheColumns;

    private const string GetCacheSql = "SELECT " + CacheColumns + " FROM caches WHERE name = $1";

    private const string ListCachesSql = "SELECT " + CacheColumns + " FROM caches ORDER BY name COLLATE \"C\"";

    private const string UpdateCacheSql =
        "UPDATE caches SET is_public = $1, priority = $2, retention_seconds = $3, quota_bytes = $4 WHERE name = $5 RETURNING " + CacheColumns;

    public Task<CacheRecord> CreateCacheAsync(CacheRecord cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return RunAsync((cache, now: Now()), static async (connection, s, ct) =>
        {
            var c = s.cache;
            await using var command = PostgresCommands.Create(connection, CreateCacheSql)
                .With(c.Name).With(c.IsPublic).With(c.Priority).With(c.StoreDir).With(c.SigningSecretKey).With(c.PublicKey)
                .WithNullable(RetentionSeconds(c.Retention), NpgsqlDbType.Bigint).With(s.now)
                .WithNullable(c.QuotaBytes, NpgsqlDbType.Bigint);
            return await ReadSingleCacheAsync(command, ct).ConfigureAwait(false)
                ?? throw new CacheException(CacheError.Conflict, $"a cache named '{c.Name}' exists already");
        }, cancellationToken);
    }

    public Task<CacheRecord?> GetCacheAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        return RunAsync(name, static async (connection, name, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetCacheSql).With(name);
            return await ReadSingleCacheAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<CacheRecord>> ListCachesAsync(CancellationToken cancellationToken) =>
        RunAsync(0, static async (connection, _, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListCachesSql);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var caches = new List<CacheRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                caches.Add(ReadCache(reader));
            }

            return (IReadOnlyList<CacheRecord>)caches;
        }, cancellationToken);

    /// <summary>Updates IsPublic, Priority, Retention and QuotaBytes of the cache with the record's <see cref="CacheRecord.Name"/>.</summary>
    public Task<CacheRecord> UpdateCacheAsync(CacheRecord cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return RunAsync(cache, static async (connection, c, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, UpdateCacheSql)
                .With(c.IsPublic).With(c.Priority).WithNullable(RetentionSeconds(c.Retention), NpgsqlDbType.Bigint)
                .WithNullable(c.QuotaBytes, NpgsqlDbType.Bigint).With(c.Name);
            return await ReadSingleCacheAsync(command, ct).ConfigureAwait(false)
                ?? throw CacheException.NotFound($"no cache named '{c.Name}'");
        }, cancellationToken);
    }

    private static long? RetentionSeconds(TimeSpan? retention) => retention is { } r ? (long)r.TotalSeconds : null;

    private static async Task<CacheRecord?> ReadSingleCacheAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadCache(reader) : null;
    }

    private static CacheRecord ReadCache(NpgsqlDataReader reader) => IndexRows.Cache(reader);
}
