using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string UpstreamColumns = "id, cache_id, url, priority, trusted_keys, token, timeout_ms, created_at";

    private const string AddUpstreamSql =
        "INSERT INTO upstreams (cache_id, url, priority, trusted_keys, token, timeout_ms, created_at) " +
        "VALUES (@cache_id, @url, @priority, @trusted_keys, @token, @timeout_ms, @created_at) " +
        "ON CONFLICT (cache_id, url) DO NOTHING RETURNING " + UpstreamColumns;

    private const string ListUpstreamsSql = "SELECT " + UpstreamColumns + " FROM upstreams WHERE cache_id = @cache_id ORDER BY priority, id";

    private const string RemoveUpstreamSql = "DELETE FROM upstreams WHERE cache_id = @cache_id AND url = @url";

    private const string PutUpstreamNarSql =
        "INSERT INTO upstream_nars (cache_id, file_hash, upstream_id, url, compression, file_size, nar_hash, nar_size, created_at) " +
        "VALUES (@cache_id, @file_hash, @upstream_id, @url, @compression, @file_size, @nar_hash, @nar_size, @created_at) " +
        "ON CONFLICT (cache_id, file_hash) DO UPDATE SET upstream_id = excluded.upstream_id, url = excluded.url, " +
        "compression = excluded.compression, file_size = excluded.file_size, nar_hash = excluded.nar_hash, " +
        "nar_size = excluded.nar_size, created_at = excluded.created_at";

    private const string GetUpstreamNarSql =
        "SELECT upstream_id, url, compression, file_size, nar_hash, nar_size, created_at FROM upstream_nars " +
        "WHERE cache_id = @cache_id AND file_hash = @file_hash";

    public Task<UpstreamRecord> AddUpstreamAsync(UpstreamRecord upstream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        return RunAsync((upstream, store: this), static (session, s) =>
        {
            var u = s.upstream;
            var command = session.Command(AddUpstreamSql,
                "@cache_id", "@url", "@priority", "@trusted_keys", "@token", "@timeout_ms", "@created_at");
            var p = command.Parameters;
            p[0].Value = u.CacheId;
            p[1].Value = u.Url;
            p[2].Value = u.Priority;
            p[3].Value = string.Join(' ', u.TrustedKeys);
            p[4].Value = OrNull(u.Token);
            p[5].Value = (long)u.Timeout.TotalMilliseconds;
            p[6].Value = s.store.Now();
            using var reader = command.ExecuteReader();
            return reader.Read()
                ? IndexRows.Upstream(reader)
                : throw new CacheException(CacheError.Conflict, $"the cache has an upstream {u.Url} already");
        }, cancellationToken);
    }

    public Task<IReadOnlyList<UpstreamRecord>> ListUpstreamsAsync(long cacheId, CancellationToken cancellationToken) =>
        RunAsync(cacheId, static (session, cacheId) =>
        {
            var command = session.Command(ListUpstreamsSql, "@cache_id");
            command.Parameters[0].Value = cacheId;
            var upstreams = new List<UpstreamRecord>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                upstreams.Add(IndexRows.Upstream(reader));
            }

            return (IReadOnlyList<UpstreamRecord>)upstreams;
        }, cancellationToken);

    public Task<bool> RemoveUpstreamAsync(long cacheId, string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        return RunAsync((cacheId, url), static (session, s) =>
        {
            var command = session.Command(RemoveUpstreamSql, "@cache_id", "@url");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.url;
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    public Task PutUpstreamNarAsync(long cacheId, UpstreamNarRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return RunAsync((cacheId, nar), static (session, s) =>
        {
            var command = session.Command(PutUpstreamNarSql,
                "@cache_id", "@file_hash", "@upstream_id", "@url", "@compression", "@file_size", "@nar_hash", "@nar_size", "@created_at");
            var p = command.Parameters;
            var n = s.nar;
            p[0].Value = s.cacheId;
            p[1].Value = n.FileHash.ToBytes();
            p[2].Value = n.UpstreamId;
            p[3].Value = n.Url;
            p[4].Value = n.Compression;
            p[5].Value = n.FileSize;
            p[6].Value = n.NarHash;
            p[7].Value = n.NarSize;
            p[8].Value = ToUnix(n.CreatedAt);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);
    }

    public Task<UpstreamNarRecord?> GetUpstreamNarAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, fileHash), static (session, s) =>
        {
            var command = session.Command(GetUpstreamNarSql, "@cache_id", "@file_hash");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.fileHash.ToBytes();
            using var reader = command.ExecuteReader();
            return reader.Read() ? IndexRows.UpstreamNar(reader, s.fileHash) : null;
        }, cancellationToken);
}
