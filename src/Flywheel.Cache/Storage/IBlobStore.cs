namespace Flywheel.Cache.Storage;

/// <summary>
/// Content-addressed blob storage: bytes keyed by their SHA-256. Implementations: local disk, S3.
/// A blob becomes visible only after its bytes were written in full and their hash verified.
/// Cross-cutting concerns (metrics, existence caching, read-through) are decorators around a store.
/// </summary>
public interface IBlobStore
{
    /// <summary>
    /// Starts a write. Bytes go to a temporary location while being hashed; nothing is visible until
    /// <see cref="IBlobWriter.CommitAsync"/> verifies them. Disposing an uncommitted writer discards it.
    /// <paramref name="expected"/> is the digest the caller will commit as, when it knows it up front (a Nix
    /// NAR's FileHash, a Bazel digest): a store may then write straight towards the final name (S3 uploads a
    /// multipart upload to the final key and completes it only after verifying). A hint is binding: bytes that
    /// hash to anything else fail the commit with <see cref="CacheError.Invalid"/>. Null when unknown (logs).
    /// </summary>
    ValueTask<IBlobWriter> BeginWriteAsync(BlobDigest? expected, CancellationToken cancellationToken);

    /// <summary>Opens a blob for reading, or returns null when it is not stored.</summary>
    Task<BlobHandle?> OpenAsync(BlobDigest digest, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a blob whose length the caller already knows from the index (a NAR's FileSize), for reading it at once.
    /// A store may skip asking whether the blob exists (S3: no HeadObject before the GetObject, one round trip per
    /// read instead of two); a blob that turns out to be missing then fails the read with
    /// <see cref="CacheError.NotFound"/> before any byte is returned, instead of returning null here.
    /// </summary>
    Task<BlobHandle?> OpenKnownAsync(BlobDigest digest, long length, CancellationToken cancellationToken) => OpenAsync(digest, cancellationToken);

    /// <summary>
    /// Which of the given digests the store itself lacks, asked in batches (not one call per digest where
    /// the backend can avoid it). The hot paths ask the index instead; this is for GC, repair and tests.
    /// </summary>
    Task<IReadOnlyList<BlobDigest>> FindMissingAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken);

    /// <summary>Removes a blob; returns false when it was not there.</summary>
    Task<bool> DeleteAsync(BlobDigest digest, CancellationToken cancellationToken);

    /// <summary>Every stored blob, for the orphan sweep.</summary>
    IAsyncEnumerable<StoredBlob> ListAsync(CancellationToken cancellationToken);

    /// <summary>Throws <see cref="CacheException"/> with <see cref="CacheError.Unavailable"/> when the store cannot be reached.</summary>
    Task CheckHealthAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Removes what writes that never committed left behind (temporary files, pending multipart uploads) when it is
    /// older than <paramref name="olderThan"/>, e.g. after a crash; returns how many were removed.
    /// </summary>
    Task<int> SweepIncompleteWritesAsync(TimeSpan olderThan, CancellationToken cancellationToken);
}

/// <summary>A blob as the store lists it.</summary>
public readonly record struct StoredBlob(BlobDigest Digest, long Size, DateTimeOffset LastModified);

/// <summary>
/// The result of a commit: the blob's digest and size, and whether the store found it there already and left it as it
/// was. A store may instead write content-addressed bytes without asking first (S3: one PutObject replaces an object
/// with the same bytes); it then reports false.
/// </summary>
public readonly record struct BlobCommit(BlobDigest Digest, long Size, bool AlreadyExisted);

/// <summary>
/// A write in progress. Feed it the bytes in order; the writer hashes them as they pass.
/// </summary>
public interface IBlobWriter : IAsyncDisposable
{
    /// <summary>How many bytes were written so far.</summary>
    long Length { get; }

    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>
    /// Verifies that the bytes hash to <paramref name="expected"/> (when given) and makes them visible under
    /// their digest. On a mismatch the bytes are discarded and a <see cref="CacheException"/> with
    /// <see cref="CacheError.Invalid"/> names both digests. A blob that already existed keeps its bytes (a store may
    /// write the same bytes over it).
    /// </summary>
    Task<BlobCommit> CommitAsync(BlobDigest? expected, CancellationToken cancellationToken);
}

/// <summary>An open blob: its length and the ways to get its bytes.</summary>
public abstract class BlobHandle
{
    protected BlobHandle(BlobDigest digest, long length)
    {
        Digest = digest;
        Length = length;
    }

    public BlobDigest Digest { get; }

    public long Length { get; }

    /// <summary>A local file holding exactly the blob's bytes, for the server's sendfile path; null otherwise.</summary>
    public virtual string? LocalPath => null;

    /// <summary>A URL the client may fetch the bytes from directly (a presigned S3 URL), when the store offers one.</summary>
    public virtual ValueTask<Uri?> GetDownloadUriAsync(CancellationToken cancellationToken) => ValueTask.FromResult<Uri?>(null);

    /// <summary>A stream over <paramref name="count"/> bytes starting at <paramref name="offset"/>.</summary>
    public abstract Task<Stream> OpenReadAsync(long offset, long count, CancellationToken cancellationToken);

    public Task<Stream> OpenReadAsync(CancellationToken cancellationToken) => OpenReadAsync(0, Length, cancellationToken);
}
