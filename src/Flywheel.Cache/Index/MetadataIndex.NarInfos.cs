using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// Narinfos, NAR file records and other cache files. The narinfo lookup of every GET and the access-time batches are
/// the dialects' own (<see cref="GetNarInfoAsync"/>, <see cref="TouchNarInfosAsync"/>): tuned per driver.
/// </summary>
public abstract partial class MetadataIndex : INarInfoStore
{
    /// <summary>The columns <see cref="IndexRows.NarInfo"/> reads, in its order.</summary>
    private protected const string NarInfoColumns = "store_path, file_hash, file_size, nar_hash, nar_size, refs, deriver, text, created_at, last_access";

    private const string PutNarInfoSql =
        "INSERT INTO narinfos (cache_id, store_path_hash, " + NarInfoColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) " +
        "ON CONFLICT (cache_id, store_path_hash) DO UPDATE SET " +
        "store_path = excluded.store_path, file_hash = excluded.file_hash, file_size = excluded.file_size, " +
        "nar_hash = excluded.nar_hash, nar_size = excluded.nar_size, refs = excluded.refs, deriver = excluded.deriver, " +
        "text = excluded.text, created_at = excluded.created_at, last_access = excluded.last_access";

    private static readonly DialectSql FindNarInfosSql = new(d =>
        $"SELECT store_path_hash FROM narinfos WHERE cache_id = $1 AND store_path_hash IN (SELECT h.value FROM {d.StringList("$2", "h")})");

    // The first verified record of a FileHash is kept.
    private const string PutNarFileSql =
        "INSERT INTO nar_files (cache_id, file_hash, compression, file_size, nar_hash, nar_size, created_at) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (cache_id, file_hash) DO NOTHING";

    private const string GetNarFileSql =
        "SELECT compression, file_size, nar_hash, nar_size, created_at FROM nar_files WHERE cache_id = $1 AND file_hash = $2";

    private const string GetNarInfoUploadBasisSql =
        "SELECT n.compression, n.file_size, n.nar_hash, n.nar_size, n.created_at, " +
        "(SELECT i.text FROM narinfos i WHERE i.cache_id = $1 AND i.store_path_hash = $3) " +
        "FROM nar_files n WHERE n.cache_id = $1 AND n.file_hash = $2";

    private const string PutCacheFileSql =
        "INSERT INTO cache_files (cache_id, path, blob, size, content_type, content_encoding, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) " +
        "ON CONFLICT (cache_id, path) DO UPDATE SET blob = excluded.blob, size = excluded.size, content_type = excluded.content_type, " +
        "content_encoding = excluded.content_encoding, created_at = excluded.created_at";

    private const string GetCacheFileSql =
        "SELECT blob, size, content_type, content_encoding, created_at FROM cache_files WHERE cache_id = $1 AND path = $2";

    public abstract Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken);

    public abstract Task TouchNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset when, CancellationToken cancellationToken);

    public Task PutNarInfoAsync(long cacheId, NarInfoRecord narInfo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(narInfo);
        return ExecuteAsync(PutNarInfoSql, (cacheId, narInfo), static (c, s) => c
            .Add(s.cacheId).Add(s.narInfo.StorePathHash).Add(s.narInfo.StorePath).Add(s.narInfo.FileHash).Add(s.narInfo.FileSize)
            .Add(s.narInfo.NarHash).Add(s.narInfo.NarSize).Add(s.narInfo.References).AddNullable(s.narInfo.Deriver).Add(s.narInfo.Text)
            .Add(s.narInfo.CreatedAt).Add(s.narInfo.LastAccess), cancellationToken);
    }

    public async Task<IReadOnlySet<string>> FindNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storePathHashes);
        if (storePathHashes.Count == 0)
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }

        var found = await QueryAsync(FindNarInfosSql.For(Dialect), (cacheId, storePathHashes), static (c, s) => c.Add(s.cacheId).AddStrings(s.storePathHashes),
            static (_, r) => r.GetString(0), cancellationToken).ConfigureAwait(false);
        return found.ToHashSet(StringComparer.Ordinal);
    }

    public Task PutNarFileAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return ExecuteAsync(PutNarFileSql, (cacheId, nar), static (c, s) => c
            .Add(s.cacheId).Add(s.nar.FileHash).Add(s.nar.Compression).Add(s.nar.FileSize).Add(s.nar.NarHash).Add(s.nar.NarSize).Add(s.nar.CreatedAt),
            cancellationToken);
    }

    public Task<NarFileRecord?> GetNarFileAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken) =>
        QueryFirstAsync(GetNarFileSql, (cacheId, fileHash), static (c, s) => c.Add(s.cacheId).Add(s.fileHash),
            (_, r) => IndexRows.NarFile(r, fileHash), cancellationToken);

    public Task<NarInfoUploadBasis?> GetNarInfoUploadBasisAsync(long cacheId, BlobDigest fileHash, string storePathHash, CancellationToken cancellationToken) =>
        QueryFirstAsync(GetNarInfoUploadBasisSql, (cacheId, fileHash, storePathHash), static (c, s) => c.Add(s.cacheId).Add(s.fileHash).Add(s.storePathHash),
            (_, r) => new NarInfoUploadBasis(IndexRows.NarFile(r, fileHash), r.IsDBNull(5) ? null : r.GetFieldValue<byte[]>(5)), cancellationToken);

    public Task PutCacheFileAsync(long cacheId, CacheFileRecord file, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        return ExecuteAsync(PutCacheFileSql, (cacheId, file), static (c, s) => c
            .Add(s.cacheId).Add(s.file.Path).Add(s.file.Blob).Add(s.file.Size).Add(s.file.ContentType).AddNullable(s.file.ContentEncoding)
            .Add(s.file.CreatedAt), cancellationToken);
    }

    public Task<CacheFileRecord?> GetCacheFileAsync(long cacheId, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        return QueryFirstAsync(GetCacheFileSql, (cacheId, path), static (c, s) => c.Add(s.cacheId).Add(s.path),
            (connection, r) => IndexRows.CacheFile(r, path, connection.ReadDigest(r, 0)), cancellationToken);
    }
}
