using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Bazel;

/// <summary>
/// The Bazel remote cache's operations on the storage core, free of transport types: the REAPI gRPC services and
/// the Bazel HTTP front door both call this. Bytes are stored once by content, shared by every cache (a blob Nix
/// also stored is the same blob), but access is per cache, the cache being the REAPI instance: a cache serves, and
/// reports present, only the blobs it owns (the index's cache_blobs): those whose bytes came in through it (a
/// verified CAS upload, a NAR upload or upstream pull). Another cache's blob is missing here; the client uploads it,
/// the bytes are verified and recorded for this cache too, and not stored a second time. Reads and action-cache
/// hits bump an owned blob's last access, so a cache over its quota evicts its least recently used blobs without
/// touching other caches'; they never make a blob the reader's. The empty blob is always present.
/// This file: the CAS. <c>BazelCache.ActionCache.cs</c>: action results. <c>BazelCache.Tree.cs</c>: GetTree.
/// </summary>
public sealed partial class BazelCache
{
    private readonly IBlobStore _blobs;
    private readonly IBlobIndex _blobIndex;
    private readonly IActionCacheStore _actionResults;
    private readonly TimeProvider _time;
    private readonly AccessTracker? _access;

    /// <param name="access">Records reads per cache for last-access times (LRU eviction); null records nothing.</param>
    public BazelCache(IBlobStore blobs, IBlobIndex blobIndex, IActionCacheStore actionResults, BazelLimits limits, TimeProvider time, AccessTracker? access = null)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(blobIndex);
        ArgumentNullException.ThrowIfNull(actionResults);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(time);
        _blobs = blobs;
        _blobIndex = blobIndex;
        _actionResults = actionResults;
        Limits = limits;
        _time = time;
        _access = access;
    }

    public BazelLimits Limits { get; }

    /// <summary>
    /// The digests the cache does not own, answered by the index in one batched query: blobs stored for other caches
    /// or not at all, and blobs owned at another size. The empty blob is never missing. Each missing digest is
    /// reported once, in asked order.
    /// </summary>
    public async Task<IReadOnlyList<BazelDigest>> FindMissingAsync(CacheContext cache, IReadOnlyList<BazelDigest> digests, CancellationToken cancellationToken)
    {
        var positions = await FindMissingPositionsAsync(cache, digests, cancellationToken).ConfigureAwait(false);
        var missing = new BazelDigest[positions.Count];
        for (var i = 0; i < missing.Length; i++)
        {
            missing[i] = digests[positions[i]];
        }

        return missing;
    }

    /// <summary>
    /// <see cref="FindMissingAsync"/> as ascending positions in <paramref name="digests"/>, so a caller can answer
    /// with the digests it was given (e.g. the request's own messages) instead of new ones.
    /// </summary>
    public async Task<IReadOnlyList<int>> FindMissingPositionsAsync(CacheContext cache, IReadOnlyList<BazelDigest> digests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            return [];
        }

        return await _blobIndex.FindMissingSizedBlobsAsync(cache.Id, new SizedBlobs(digests), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The digests as the index asks for them, without a copy (10,000 of them would be 400 KB).</summary>
    private sealed class SizedBlobs(IReadOnlyList<BazelDigest> digests) : IReadOnlyList<SizedBlob>
    {
        public int Count => digests.Count;

        public SizedBlob this[int index] => digests[index].ToSizedBlob();

        public IEnumerator<SizedBlob> GetEnumerator()
        {
            for (var i = 0; i < digests.Count; i++)
            {
                yield return digests[i].ToSizedBlob();
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>
    /// Whether the cache owns the blob at that size (the index's answer), e.g. for ByteStream Write's early return;
    /// a blob a cache found there instead of uploading counts as that cache's access.
    /// </summary>
    public async Task<bool> ExistsAsync(CacheContext cache, BazelDigest digest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (digest.IsEmpty)
        {
            return true;
        }

        if (await _blobIndex.GetCacheBlobSizeAsync(cache.Id, digest.Hash, cancellationToken).ConfigureAwait(false) != digest.SizeBytes)
        {
            return false;
        }

        _access?.RecordBlob(cache.Id, digest.Hash);
        return true;
    }

    /// <summary>Opens a CAS blob the cache owns, or returns null when it does not own it at that size. The empty blob always opens.</summary>
    public Task<BlobHandle?> OpenAsync(CacheContext cache, BazelDigest digest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return OpenCoreAsync(cache, digest.Hash, digest.SizeBytes, cancellationToken);
    }

    /// <summary>Opens a CAS blob the cache owns by its hash alone (Bazel's HTTP cache names blobs without their size), or returns null.</summary>
    public Task<BlobHandle?> OpenAsync(CacheContext cache, BlobDigest hash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return OpenCoreAsync(cache, hash, size: null, cancellationToken);
    }

    /// <summary>Starts an upload, through a cache, of a blob that must end up as <paramref name="expected"/>.</summary>
    public ValueTask<CasUpload> BeginUploadAsync(CacheContext cache, BazelDigest expected, CancellationToken cancellationToken) =>
        BeginUploadAsync(cache, expected, BlobCompressor.Identity, cancellationToken);

    /// <summary>
    /// Starts an upload whose bytes arrive as <paramref name="compressor"/> says (zstd: compressed, verified once
    /// decompressed). Blobs over <see cref="BazelLimits.MaxBlobBytes"/> are refused with <see cref="CacheError.TooLarge"/>.
    /// Once committed, the blob is one the cache owns (also when the store had its bytes already, for another cache).
    /// </summary>
    public async ValueTask<CasUpload> BeginUploadAsync(CacheContext cache, BazelDigest expected, BlobCompressor compressor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (expected.SizeBytes > Limits.MaxBlobBytes)
        {
            throw TooLarge($"blob {expected}", expected.SizeBytes, Limits.MaxBlobBytes);
        }

        var writer = await _blobs.BeginWriteAsync(expected.Hash, cancellationToken).ConfigureAwait(false);
        try
        {
            return new CasUpload(writer, expected, compressor, cache.Id, _blobIndex, _time);
        }
        catch
        {
            await writer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stores a blob held in memory (BatchUpdateBlobs, inline contents), verified against <paramref name="expected"/>.</summary>
    public async Task PutAsync(CacheContext cache, BazelDigest expected, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        await using var upload = await BeginUploadAsync(cache, expected, cancellationToken).ConfigureAwait(false);
        await upload.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        await upload.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a small blob into memory (Trees, Directories, inlined outputs), or returns null when it is missing,
    /// stored at another size, or larger than <paramref name="limit"/>.
    /// </summary>
    public Task<byte[]?> ReadSmallAsync(CacheContext cache, BazelDigest digest, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return ReadSmallCoreAsync(cache, digest, limit, cancellationToken);
    }

    /// <summary>
    /// Opens a blob the reader owns (at <paramref name="size"/>, when given) and counts the read as its access. Ownership
    /// is asked of the index before the store is touched, so another cache's blob costs the same as one never stored.
    /// </summary>
    private async Task<BlobHandle?> OpenCoreAsync(CacheContext reader, BlobDigest hash, long? size, CancellationToken cancellationToken)
    {
        if (hash == BlobDigest.Empty)
        {
            return size is null or 0 ? await _blobs.OpenAsync(hash, cancellationToken).ConfigureAwait(false) : null;
        }

        var owned = await _blobIndex.GetCacheBlobSizeAsync(reader.Id, hash, cancellationToken).ConfigureAwait(false);
        if (owned is null || (size is { } expected && owned != expected))
        {
            return null;
        }

        var handle = await _blobs.OpenAsync(hash, cancellationToken).ConfigureAwait(false);
        if (handle is null || handle.Length != owned)
        {
            return null;
        }

        _access?.RecordBlob(reader.Id, hash);
        return handle;
    }

    private async Task<byte[]?> ReadSmallCoreAsync(CacheContext reader, BazelDigest digest, long limit, CancellationToken cancellationToken)
    {
        if (digest.SizeBytes > limit || digest.SizeBytes > Array.MaxLength)
        {
            return null;
        }

        if (digest.IsEmpty)
        {
            return [];
        }

        var handle = await OpenCoreAsync(reader, digest.Hash, digest.SizeBytes, cancellationToken).ConfigureAwait(false);
        if (handle is null)
        {
            return null;
        }

        var bytes = new byte[digest.SizeBytes];
        var stream = await handle.OpenReadAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        }

        return bytes;
    }

    private static CacheException TooLarge(string what, long size, long limit) =>
        new(CacheError.TooLarge, $"{what} of {size} bytes exceeds the limit of {limit} bytes");
}
