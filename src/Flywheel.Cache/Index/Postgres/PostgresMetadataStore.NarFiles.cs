using Flywheel.Cache.Storage;
using NpgsqlTypes;

namespace Flywheel.Cache.Index.Postgres;

public sealed partial class PostgresMetadataStore
{
    // The first verified record of a FileHash is kept.
    private const string PutNarFileSql =
        "INSERT INTO nar_files (cache_id, file_hash, compression, file_size, nar_hash, nar_size, created_at) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (cache_id, file_hash) DO NOTHING";

    private const string GetNarFileSql =
        "SELECT compression, file_size, nar_hash, nar_size, created_at FROM nar_files WHERE cache_id = $1 AND file_hash = $2";

    private const string PutCacheFileSql =
        "INSERT INTO cache_files (cache_id, path, blob, size, content_type, content_encoding, created_at) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7) " +
        "ON CONFLICT (cache_id, path) DO UPDATE SET " +
        "blob = excluded.blob, size = excluded.size, content_type = excluded.content_type, content_encoding = excluded.content_encoding, created_at = excluded.created_at";

    private const string GetCacheFileSql =
        "SELECT blob, size, content_type, content_encoding, created_at FROM cache_files WHERE cache_id = $1 AND path = $2";

    public Task PutNarFileAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return RunAsync((cacheId, nar), static async (connection, s, ct) =>
        {
            var n = s.nar;
            await using var command = PostgresCommands.Create(connection, PutNarFileSql)
                .With(s.cacheId).With(n.FileHash).With(n.Compression).With(n.FileSize).With(n.NarHash).With(n.NarSize).With(ToUnix(n.CreatedAt));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<NarFileRecord?> GetNarFileAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, fileHash), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetNarFileSql).With(s.cacheId).With(s.fileHash);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return IndexRows.NarFile(reader, s.fileHash);
        }, cancellationToken);

    public Task PutCacheFileAsync(long cacheId, CacheFileRecord file, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        return RunAsync((cacheId, file), static async (connection, s, ct) =>
        {
            var f = s.file;
            await using var command = PostgresCommands.Create(connection, PutCacheFileSql)
                .With(s.cacheId).With(f.Path).With(f.Blob).With(f.Size).With(f.ContentType)
                .WithNullable(f.ContentEncoding, NpgsqlDbType.Text).With(ToUnix(f.CreatedAt));
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<CacheFileRecord?> GetCacheFileAsync(long cacheId, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        return RunAsync((cacheId, path), static async (connection, s, ct) =>
        {
            await using var command = PostgresCommands.Create(connection, GetCacheFileSql).With(s.cacheId).With(s.path);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return IndexRows.CacheFile(reader, s.path, reader.GetDigest(0));
        }, cancellationToken);
    }
}
