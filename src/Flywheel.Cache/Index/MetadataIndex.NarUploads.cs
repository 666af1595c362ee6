namespace Flywheel.Cache.Index;

public abstract partial class MetadataIndex
{
    // The blob record was just written in the same transaction, so the size is the uploaded one (content addressed).
    private const string OwnUploadedBlobSql =
        "INSERT INTO cache_blobs (cache_id, digest, size, last_access) VALUES ($1, $2, $3, $4) " +
        "ON CONFLICT (cache_id, digest) DO UPDATE SET last_access = excluded.last_access WHERE cache_blobs.last_access < excluded.last_access";

    /// <summary>
    /// What a verified NAR upload records, in one transaction (one commit: on PostgreSQL one WAL flush instead of
    /// three): the blob (<see cref="RecordBlobSql"/>), the cache's NAR file record (<see cref="PutNarFileSql"/>), and the
    /// cache's ownership of the blob.
    /// </summary>
    public Task RecordNarUploadAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nar);
        return UseConnectionAsync((cacheId, nar), static (connection, s, ct) => connection.InTransactionAsync(s, static async (connection, s, ct) =>
        {
            await connection.ExecuteAsync(RecordBlobSql, s.nar, static (c, n) => c.Add(n.FileHash).Add(n.FileSize).Add(n.CreatedAt), ct)
                .ConfigureAwait(false);
            await connection.ExecuteAsync(PutNarFileSql, s, static (c, s) => c
                .Add(s.cacheId).Add(s.nar.FileHash).Add(s.nar.Compression).Add(s.nar.FileSize).Add(s.nar.NarHash).Add(s.nar.NarSize).Add(s.nar.CreatedAt), ct)
                .ConfigureAwait(false);
            return await connection.ExecuteAsync(OwnUploadedBlobSql, s, static (c, s) => c
                .Add(s.cacheId).Add(s.nar.FileHash).Add(s.nar.FileSize).Add(s.nar.CreatedAt), ct).ConfigureAwait(false);
        }, ct), cancellationToken);
    }
}
