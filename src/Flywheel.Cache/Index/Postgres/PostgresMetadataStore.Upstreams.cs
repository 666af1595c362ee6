using Flywheel.Cache.Storage;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
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
        "SELECT upstream_id, url, compression, file_size, nar_hash, nar_size, created_at FROM upstream_nars " +
        "WHERE cache_id = $1 AND file_hash = $2";

    public Task<UpstreamRecord> AddUpstreamAsync(UpstreamRecord upstream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        return RunAsync((upstream, store: this), static async (connection, s, ct) =>
        {
            var u = s.upstream;
            await using var command = PostgresCommands.Create(connection, AddUpstreamSql)
                .With(u.CacheId).With(u.Url).With(u.Priority).With(string.Join(' ', u.TrustedKeys))
                .WithNullable(u.Token, NpgsqlDbType.Text).With((long)u.Timeout.TotalMilliseconds).With(s.store.Now());
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? IndexRows.Upstream(reader)
                : throw new CacheException(CacheError.Conflict, $"the cache has an upstream {u.Url} already");
        }, cancellationToken);
    }

    public Task<IReadOnlyList<UpstreamRecord>> ListUpstreamsAsync(long cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static async (connection, cacheId, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, ListUpstreamsSql).With(cacheId);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var upstreams = new List<UpstreamRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                upstreams.Add(IndexRows.Upstream(reader));
            }

            return (IReadOnlyList<UpstreamRecord>)upstreams;
        }, cancellationToken);

    public Task<bool> RemoveUpstreamAsync(long cacheId, string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        return RunAsync((cacheId, url), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, RemoveUpstreamSql).With(s.cacheId).With(s.url);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    public Task PutUpstreamNarAsync(long cacheId, UpstreamNarRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return RunAsync((cacheId, nar), static async (connection, s, ct) =>
        {
            var n = s.nar;
            await using var command = PostgresCommands.Create(connection, PutUpstreamNarSql)
                .With(s.cacheId).With(n.FileHash).With(n.UpstreamId).With(n.Url).With(n.Compression)
                .With(n.FileSize).With(n.NarHash).With(n.NarSize).With(ToUnix(n.CreatedAt));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<UpstreamNarRecord?> GetUpstreamNarAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, fileHash), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetUpstreamNarSql).With(s.cacheId).With(s.fileHash);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? IndexRows.UpstreamNar(reader, s.fileHash) : null;
        }, cancellationToken);
}
