using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : ICacheStore
{
    private const string CacheColumns =
        "id, name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes";

    private const string CreateCacheSql =
        "INSERT INTO caches (name, is_public, priority, store_dir, signing_secret_key, public_key, retention_seconds, created_at, quota_bytes) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING RETURNING " + CacheColumns;

    private const string GetCacheSql = "SELECT " + CacheColumns + " FROM caches WHERE name = $1";

    private static readonly DialectSql ListCachesSql = new(d => $"SELECT {CacheColumns} FROM caches ORDER BY name{d.Ordinal}");

    private const string UpdateCacheSql =
        "UPDATE caches SET is_public = $1, priority = $2, retention_seconds = $3, quota_bytes = $4 WHERE name = $5 RETURNING " + CacheColumns;

    private const string TokenColumns = "id, secret_hash, cache_pattern, scopes, description, created_at, expires_at, revoked_at";

    // Without a conflict target, DO NOTHING covers both unique keys (id and secret_hash).
    private const string CreateTokenSql = "INSERT INTO tokens (" + TokenColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";

    private const string FindTokenSql = "SELECT " + TokenColumns + " FROM tokens WHERE secret_hash = $1";

    private static readonly DialectSql ListTokensSql = new(d => $"SELECT {TokenColumns} FROM tokens ORDER BY created_at, id{d.Ordinal}");

    // A second revocation keeps the first time.
    private const string RevokeTokenSql = "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";

    public async Task<CacheRecord> CreateCacheAsync(CacheRecord cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return await QueryFirstAsync(CreateCacheSql, (cache, now: Now()), static (c, s) => c
                .Add(s.cache.Name).Add(s.cache.IsPublic).Add(s.cache.Priority).Add(s.cache.StoreDir).Add(s.cache.SigningSecretKey)
                .Add(s.cache.PublicKey).AddNullable(RetentionSeconds(s.cache.Retention)).Add(s.now).AddNullable(s.cache.QuotaBytes),
                static (_, r) => IndexRows.Cache(r), cancellationToken).ConfigureAwait(false)
            ?? throw new CacheException(CacheError.Conflict, $"a cache named '{cache.Name}' exists already");
    }

    public Task<CacheRecord?> GetCacheAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        return QueryFirstAsync(GetCacheSql, name, static (c, name) => c.Add(name), static (_, r) => IndexRows.Cache(r), cancellationToken);
    }

    public Task<IReadOnlyList<CacheRecord>> ListCachesAsync(CancellationToken cancellationToken) =>
        QueryAsync(ListCachesSql.For(Dialect), 0, NoParameters, static (_, r) => IndexRows.Cache(r), cancellationToken);

    /// <summary>Updates IsPublic, Priority, Retention and QuotaBytes of the cache with the record's <see cref="CacheRecord.Name"/>.</summary>
    public async Task<CacheRecord> UpdateCacheAsync(CacheRecord cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return await QueryFirstAsync(UpdateCacheSql, cache, static (c, cache) => c
                .Add(cache.IsPublic).Add(cache.Priority).AddNullable(RetentionSeconds(cache.Retention)).AddNullable(cache.QuotaBytes).Add(cache.Name),
                static (_, r) => IndexRows.Cache(r), cancellationToken).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"no cache named '{cache.Name}'");
    }

    public async Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        var created = await ExecuteAsync(CreateTokenSql, token, static (c, t) => c
            .Add(t.Id).Add(t.SecretHash).Add(t.CachePattern).Add((int)t.Scopes).AddNullable(t.Description)
            .Add(t.CreatedAt).AddNullable(t.ExpiresAt).AddNullable(t.RevokedAt), cancellationToken).ConfigureAwait(false);
        if (created == 0)
        {
            throw new CacheException(CacheError.Conflict, $"a token with id '{token.Id}' or the same secret exists already");
        }
    }

    public Task<TokenRecord?> FindTokenAsync(BlobDigest secretHash, CancellationToken cancellationToken) =>
        QueryFirstAsync(FindTokenSql, secretHash, static (c, hash) => c.Add(hash), ReadToken, cancellationToken);

    public Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken) =>
        QueryAsync(ListTokensSql.For(Dialect), 0, NoParameters, ReadToken, cancellationToken);

    public async Task<bool> RevokeTokenAsync(string id, DateTimeOffset when, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return await ExecuteAsync(RevokeTokenSql, (id, when), static (c, s) => c.Add(s.when).Add(s.id), cancellationToken).ConfigureAwait(false) == 1;
    }

    private static long? RetentionSeconds(TimeSpan? retention) => retention is { } r ? (long)r.TotalSeconds : null;

    private static TokenRecord ReadToken(IndexConnection connection, System.Data.Common.DbDataReader reader) =>
        IndexRows.Token(reader, connection.ReadDigest(reader, 1));
}
