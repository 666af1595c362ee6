using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>Blob bookkeeping shared by every front door: which blobs are stored and which cache owns which (what a cache owns is what it serves).</summary>
public interface IBlobIndex
{
    /// <summary>Records that a blob is stored (size, first seen); an existing record is kept and its access bumped.</summary>
    Task RecordBlobAsync(BlobDigest digest, long size, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>Which of the given digests the index does not know, in batched set queries.</summary>
    Task<IReadOnlyList<BlobDigest>> FindMissingBlobsAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken);

    /// <summary>
    /// Makes these blobs the cache's own (it verified their bytes: a CAS upload, a NAR upload or upstream pull) and
    /// bumps their last access in that cache, in one statement per batch. Digests the index does not know are
    /// ignored; times only move forward. Only bytes that came in through the cache may be added: what a cache owns
    /// is what it serves and reports present.
    /// </summary>
    Task AddCacheBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>
    /// Bumps the last access of blobs the cache owns already (reads, action-cache hits), in one statement per batch;
    /// a digest the cache does not own is left alone (a read never makes a blob the reader's). Times only move forward.
    /// </summary>
    Task TouchOwnedBlobsAsync(long cacheId, IReadOnlyCollection<BlobDigest> digests, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>The size of a blob the cache owns, or null when it does not own it (whoever else does).</summary>
    Task<long?> GetCacheBlobSizeAsync(long cacheId, BlobDigest digest, CancellationToken cancellationToken);

    /// <summary>
    /// Positions (ascending) in <paramref name="blobs"/> of the blobs the cache does not own at that size: blobs it
    /// does not own (stored for another cache or not at all), and digests it owns at another size. One statement per
    /// batch; a blob asked for twice is reported at its first position only. The empty blob at size 0 is never missing.
    /// </summary>
    Task<IReadOnlyList<int>> FindMissingSizedBlobsAsync(long cacheId, IReadOnlyList<SizedBlob> blobs, CancellationToken cancellationToken);
}

/// <summary>A blob digest with the size a client says it has (a REAPI digest, in storage terms).</summary>
public readonly record struct SizedBlob(BlobDigest Digest, long Size);
