using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex : IRecoveryIndex
{
    private const string BlobsCreatedSinceSql = "SELECT digest, size, created_at FROM blobs WHERE created_at >= $1 ORDER BY created_at";

    // Everything that names a blob's bytes, the records that depend on it first.
    private static readonly string[] ForgetBlobSql =
    [
        "DELETE FROM narinfos WHERE file_hash = $1",
        "DELETE FROM nar_files WHERE file_hash = $1",
        "DELETE FROM cache_files WHERE blob = $1",
        "DELETE FROM cache_blobs WHERE digest = $1",
        "DELETE FROM blobs WHERE digest = $1",
    ];

    public Task<IReadOnlyList<RecordedBlob>> ListBlobsCreatedSinceAsync(DateTimeOffset since, CancellationToken cancellationToken) =>
        QueryAsync(BlobsCreatedSinceSql, since, static (c, since) => c.Add(since),
            static (connection, r) => new RecordedBlob(connection.ReadDigest(r, 0), r.GetInt64(1), FromUnix(r.GetInt64(2))), cancellationToken);

    public Task<int> ForgetBlobAsync(BlobDigest digest, CancellationToken cancellationToken) =>
        UseConnectionAsync(digest, static (connection, digest, ct) => connection.InTransactionAsync(digest, static async (connection, digest, ct) =>
        {
            var removed = 0;
            foreach (var sql in ForgetBlobSql)
            {
                removed += await connection.ExecuteAsync(sql, digest, static (c, d) => c.Add(d), ct).ConfigureAwait(false);
            }

            return removed;
        }, ct), cancellationToken);
}
