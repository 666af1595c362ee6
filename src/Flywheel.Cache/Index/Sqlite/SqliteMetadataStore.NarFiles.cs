using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

public sealed partial class SqliteMetadataStore
{
    private const string PutNarFileSql =
        "INSERT INTO nar_files (cache_id, file_hash, compression, file_size, nar_hash, nar_size, created_at) " +
        "VALUES (@cache_id, @file_hash, @compression, @file_size, @nar_hash, @nar_size, @created_at) " +
        "ON CONFLICT (cache_id, file_hash) DO NOTHING";

    private const string GetNarFileSql =
        "SELECT compression, file_size, nar_hash, nar_size, created_at FROM nar_files WHERE cache_id = @cache_id AND file_hash = @file_hash";

    private const string PutCacheFileSql =
        "INSERT INTO cache_files (cache_id, path, blob, size, content_type, content_encoding, created_at) " +
        "VALUES (@cache_id, @path, @blob, @size, @content_type, @content_encoding, @created_at) " +
        "ON CONFLICT (cache_id, path) DO UPDATE SET " +
        "blob = excluded.blob, size = excluded.size, content_type = excluded.content_type, content_encoding = excluded.content_encoding, created_at = excluded.created_at";

    private const string GetCacheFileSql =
        "SELECT blob, size, content_type, content_encoding, created_at FROM cache_files WHERE cache_id = @cache_id AND path = @path";

    public Task PutNarFileAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return RunAsync((cacheId, nar), static (session, s) =>
        {
            var command = session.Command(PutNarFileSql,
                "@cache_id", "@file_hash", "@compression", "@file_size", "@nar_hash", "@nar_size", "@created_at");
            var p = command.Parameters;
            p[0].Value = s.cacheId;
            p[1].Value = s.nar.FileHash.ToBytes();
            p[2].Value = s.nar.Compression;
            p[3].Value = s.nar.FileSize;
            p[4].Value = s.nar.NarHash;
            p[5].Value = s.nar.NarSize;
            p[6].Value = ToUnix(s.nar.CreatedAt);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);
    }

    public Task<NarFileRecord?> GetNarFileAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken) =>
        RunAsync((cacheId, fileHash), static (session, s) =>
        {
            var command = session.Command(GetNarFileSql, "@cache_id", "@file_hash");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.fileHash.ToBytes();
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            return IndexRows.NarFile(reader, s.fileHash);
        }, cancellationToken);

    public Task PutCacheFileAsync(long cacheId, CacheFileRecord file, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        return RunAsync((cacheId, file), static (session, s) =>
        {
            var command = session.Command(PutCacheFileSql, "@cache_id", "@path", "@blob", "@size", "@content_type", "@content_encoding", "@created_at");
            var p = command.Parameters;
            p[0].Value = s.cacheId;
            p[1].Value = s.file.Path;
            p[2].Value = s.file.Blob.ToBytes();
            p[3].Value = s.file.Size;
            p[4].Value = s.file.ContentType;
            p[5].Value = (object?)s.file.ContentEncoding ?? DBNull.Value;
            p[6].Value = ToUnix(s.file.CreatedAt);
            command.ExecuteNonQuery();
            return true;
        }, cancellationToken);
    }

    public Task<CacheFileRecord?> GetCacheFileAsync(long cacheId, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        return RunAsync((cacheId, path), static (session, s) =>
        {
            var command = session.Command(GetCacheFileSql, "@cache_id", "@path");
            command.Parameters[0].Value = s.cacheId;
            command.Parameters[1].Value = s.path;
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            return IndexRows.CacheFile(reader, s.path, session.ReadDigest(reader, 0));
        }, cancellationToken);
    }
}
