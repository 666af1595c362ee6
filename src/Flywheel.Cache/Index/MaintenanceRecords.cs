using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>A blob a cache uses, with its size and its last access through that cache.</summary>
public readonly record struct CacheBlobEntry(BlobDigest Digest, long Size, DateTimeOffset LastAccess);

/// <summary>How many entries a removal took out, and the bytes they accounted for.</summary>
public readonly record struct RemovedEntries(long Count, long Bytes)
{
    public static RemovedEntries None => default;

    public static RemovedEntries operator +(RemovedEntries a, RemovedEntries b) => new(a.Count + b.Count, a.Bytes + b.Bytes);
}

/// <summary>What a cache holds.</summary>
/// <param name="Blobs">Blobs the cache uses (written, read or referenced through it: the Bazel CAS view).</param>
/// <param name="BlobBytes">Their total size: what a quota limits.</param>
/// <param name="NarBytes">Total FileSize of the cache's NAR records.</param>
public sealed record CacheUsage(long Blobs, long BlobBytes, long NarInfos, long NarFiles, long NarBytes, long ActionResults, long Pins);

/// <summary>A pinned store path of a cache: retention never collects it or its closure.</summary>
public sealed record PinRecord(string StorePathHash, string Reason, DateTimeOffset CreatedAt);

/// <summary>A narinfo as a node of the reference graph: its hash part, its references (base names, space-separated), last access and its NAR's FileSize.</summary>
public sealed record NarInfoNode(string StorePathHash, string References, DateTimeOffset LastAccess, long FileSize);

/// <summary>One page of the unreferenced-blob sweep.</summary>
/// <param name="Unreferenced">The unreferenced blobs of the page (removed from the index unless it was a dry run).</param>
/// <param name="Next">Where the next page starts (pass as <c>after</c>), or null after the last page.</param>
public sealed record BlobSweepPage(IReadOnlyList<SizedBlob> Unreferenced, BlobDigest? Next);
