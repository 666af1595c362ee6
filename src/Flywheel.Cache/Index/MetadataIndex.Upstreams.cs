using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IUpstreamStore
{
    private const string UpstreamColumns = "id, cache_id, url, priority, trusted_keys, token, timeout_ms, created_at";

    private const string AddUpstreamSql =
        "INSERT INTO upstreams (cache_id, url, priority, trusted_keys, token, timeout_ms, created_at) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (cache_id, url) DO NOTHING RETURNING " + UpstreamColumns;

    private const string ListUpstreamsSql = "SELECT " + UpstreamColumns + " FROM upstreams WHERE cache_id = $1 ORDER BY priority, id";

    private const string RemoveUpstreamSql = "DELETE FROM upstreams WHERE cache_id = $1 AND url = $2";

    private const string PutUpstreamNarSql =
        "INSERT INTO upstream_nars (cache_id, file_hash, upstream_id, url, compression, file_size, nar_hash, nar_size, created_at) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) " +
        "ON CONFLICT (cache_id, file_hash) DO UPDATE SET upstream_id = excluded.upstream_id, url = excluded.url, " +
        "compression = excluded.compression, file_size = excluded.file_size, nar_hash = excluded.nar_hash, " +
        "nar_size = excluded.nar_size, created_at = excluded.created_at";

    private const string GetUpstreamNarSql =
        "SELECT upstream_id, url, compression, file_size, nar_hash, nar_size, created_at, file_hash FROM upstream_nars WHERE cache_id = $1 AND file_hash = $2";

    public async Task<UpstreamRecord> AddUpstreamAsync(UpstreamRecord upstream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        return await QueryFirstAsync(AddUpstreamSql, (upstream, now: Now()), static (c, s) => c
                .Add(s.upstream.CacheId).Add(s.upstream.Url).Add(s.upstream.Priority).Add(string.Join(' ', s.upstream.TrustedKeys))
                .AddNullable(s.upstream.Token).Add((long)s.upstream.Timeout.TotalMilliseconds).Add(s.now),
                static (_, r) => IndexRows.Upstream(r), cancellationToken).ConfigureAwait(false)
            ?? throw new CacheException(CacheError.Conflict, $"the cache has an upstream {upstream.Url} already");
    }

    public Task<IReadOnlyList<UpstreamRecord>> ListUpstreamsAsync(long cacheId, CancellationToken cancellationToken) =>
        QueryAsync(ListUpstreamsSql, cacheId, static (c, id) => c.Add(id), static (_, r) => IndexRows.Upstream(r), cancellationToken);

    public async Task<bool> RemoveUpstreamAsync(long cacheId, string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        return await ExecuteAsync(RemoveUpstreamSql, (cacheId, url), static (c, s) => c.Add(s.cacheId).Add(s.url), cancellationToken)
            .ConfigureAwait(false) == 1;
    }

    public Task PutUpstreamNarAsync(long cacheId, UpstreamNarRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return ExecuteAsync(PutUpstreamNarSql, (cacheId, nar), static (c, s) => c
            .Add(s.cacheId).Add(s.nar.FileHash).Add(s.nar.UpstreamId).Add(s.nar.Url).Add(s.nar.Compression)
            .Add(s.nar.FileSize).Add(s.nar.NarHash).Add(s.nar.NarSize).Add(s.nar.CreatedAt), cancellationToken);
    }

    public Task<UpstreamNarRecord?> GetUpstreamNarAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken) =>
        QueryFirstAsync(GetUpstreamNarSql, (cacheId, fileHash), static (c, s) => c.Add(s.cacheId).Add(s.fileHash),
            static (connection, r) => IndexRows.UpstreamNar(r, connection.ReadDigest(r, 7)), cancellationToken);
}
