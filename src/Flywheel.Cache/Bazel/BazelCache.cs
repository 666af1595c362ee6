using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Bazel;

/// <summary>
/// The Bazel remote cache's operations on the storage core, free of transport types: the REAPI gRPC services and
/// the Bazel HTTP front door both call this. The CAS is the one content-addressed store shared by every cache (a
/// blob Nix also stored is the same blob); the action cache is per cache, the cache being the REAPI instance.
/// This file: the CAS. <c>BazelCache.ActionCache.cs</c>: action results. <c>BazelCache.Tree.cs</c>: GetTree.
/// </summary>
public sealed partial class BazelCache
{
    private readonly IBlobStore _blobs;
    private readonly IMetadataStore _index;
    private readonly TimeProvider _time;
    private readonly AccessTracker? _access;

    /// <param name="access">Records reads for last-access times (LRU eviction); null records nothing.</param>
    public BazelCache(IBlobStore blobs, IMetadataStore index, BazelLimits limits, TimeProvider time, AccessTracker? access = null)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(time);
        _blobs = blobs;
        _index = index;
        Limits = limits;
        _time = time;
        _access = access;
    }

    public BazelLimits Limits { get; }

    /// <summary>
    /// The digests the CAS lacks, answered by the index in one batched query: unknown blobs and blobs known
    /// with another size. The empty blob is never missing. Each missing digest is reported once, in asked order.
    /// </summary>
    public async Task<IReadOnlyList<BazelDigest>> FindMissingAsync(IReadOnlyList<BazelDigest> digests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            return [];
        }

        var asked = new SizedBlob[digests.Count];
        for (var i = 0; i < asked.Length; i++)
        {
            asked[i] = digests[i].ToSizedBlob();
        }

        var positions = await _index.FindMissingSizedBlobsAsync(asked, cancellationToken).ConfigureAwait(false);
        if (positions.Count == 0)
        {
            return [];
        }

        var missing = new BazelDigest[positions.Count];
        for (var i = 0; i < missing.Length; i++)
        {
            missing[i] = digests[positions[i]];
        }

        return missing;
    }

    /// <summary>Whether the CAS has the blob at that size (the index's answer), e.g. for ByteStream Write's early return.</summary>
    public async Task<bool> ExistsAsync(BazelDigest digest, CancellationToken cancellationToken = default)
    {
        if (digest.IsEmpty)
        {
            return true;
        }

        var missing = await _index.FindMissingSizedBlobsAsync([digest.ToSizedBlob()], cancellationToken).ConfigureAwait(false);
        return missing.Count == 0;
    }

    /// <summary>Opens a CAS blob, or returns null when it is not stored at that size. The empty blob always opens.</summary>
    public async Task<BlobHandle?> OpenAsync(BazelDigest digest, CancellationToken cancellationToken)
    {
        var handle = await _blobs.OpenAsync(digest.Hash, cancellationToken).ConfigureAwait(false);
        if (handle is null || handle.Length != digest.SizeBytes)
        {
            return null;
        }

        _access?.RecordBlob(digest.Hash);
        return handle;
    }

    /// <summary>Opens a CAS blob by its hash alone (Bazel's HTTP cache names blobs without their size), or returns null.</summary>
    public async Task<BlobHandle?> OpenAsync(BlobDigest hash, CancellationToken cancellationToken)
    {
        var handle = await _blobs.OpenAsync(hash, cancellationToken).ConfigureAwait(false);
        if (handle is not null)
        {
            _access?.RecordBlob(hash);
        }

        return handle;
    }

    /// <summary>Starts an upload of a blob that must end up as <paramref name="expected"/>.</summary>
    public ValueTask<CasUpload> BeginUploadAsync(BazelDigest expected, CancellationToken cancellationToken) =>
        BeginUploadAsync(expected, BlobCompressor.Identity, cancellationToken);

    /// <summary>
    /// Starts an upload whose bytes arrive as <paramref name="compressor"/> says (zstd: compressed, verified once
    /// decompressed). Blobs over <see cref="BazelLimits.MaxBlobBytes"/> are refused with <see cref="CacheError.TooLarge"/>.
    /// </summary>
    public async ValueTask<CasUpload> BeginUploadAsync(BazelDigest expected, BlobCompressor compressor, CancellationToken cancellationToken)
    {
        if (expected.SizeBytes > Limits.MaxBlobBytes)
        {
            throw TooLarge($"blob {expected}", expected.SizeBytes, Limits.MaxBlobBytes);
        }

        var writer = await _blobs.BeginWriteAsync(expected.Hash, cancellationToken).ConfigureAwait(false);
        try
        {
            return new CasUpload(writer, expected, compressor, _index, _time);
        }
        catch
        {
            await writer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stores a blob held in memory (BatchUpdateBlobs, inline contents), verified against <paramref name="expected"/>.</summary>
    public async Task PutAsync(BazelDigest expected, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        await using var upload = await BeginUploadAsync(expected, cancellationToken).ConfigureAwait(false);
        await upload.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        await upload.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a small blob into memory (Trees, Directories, inlined outputs), or returns null when it is missing,
    /// stored at another size, or larger than <paramref name="limit"/>.
    /// </summary>
    public async Task<byte[]?> ReadSmallAsync(BazelDigest digest, long limit, CancellationToken cancellationToken)
    {
        if (digest.SizeBytes > limit || digest.SizeBytes > Array.MaxLength)
        {
            return null;
        }

        if (digest.IsEmpty)
        {
            return [];
        }

        var handle = await OpenAsync(digest, cancellationToken).ConfigureAwait(false);
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
