using System.Buffers;
using System.Security.Cryptography;
using Amazon.S3.Model;

namespace Flywheel.Cache.Storage.S3;

/// <summary>
/// A write to S3, hashed as the bytes pass, holding at most one part in memory: a buffer from
/// <see cref="System.Buffers.ArrayPool{T}.Shared"/> that grows up to 1 MiB, so small blobs stay small, then one
/// whole-part buffer from the store's bounded <see cref="S3PartBufferPool"/>.
/// <para>
/// Visibility: nothing appears under <c>blobs/</c> before the hash is verified.
/// A blob that ends within one part is verified, then PutObject'ed to its final key.
/// A larger blob goes out part by part as a multipart upload, which S3 keeps invisible until it is completed:
/// when the write began with the expected digest (almost every caller knows it: Nix NAR names, Bazel digests)
/// the upload targets the final key and is completed only after the hash matched, so the bytes cross the
/// network once. Without a hint (build logs) the final key is unknown, so the upload targets a temporary key
/// under <c>uploads/</c> and, once verified, is copied server-side to the final key (CopyObject; UploadPartCopy
/// above 5 GiB) and the temporary object deleted.
/// </para>
/// A commit does not ask whether the blob exists first (see <see cref="CommitAsync"/>): it writes, so
/// <see cref="BlobCommit.AlreadyExisted"/> is false except for a staged upload whose blob turned out to be stored.
/// On a mismatch, a staged blob that exists already, or a dispose without commit, the multipart upload is aborted and
/// any temporary object deleted. Those clean-ups are best effort (they must not hide the error that caused
/// them); what a crash or a failed abort leaves is swept by <see cref="S3BlobStore.AbortStaleUploadsAsync"/>.
/// </summary>
internal sealed class S3BlobWriter : IBlobWriter
{
    private const int InitialBufferSize = 64 * 1024;
    private const int MaxSharedBufferSize = 1024 * 1024; // above this, a part buffer from the store's pool
    private const int MaxParts = 10_000;
    private const long MaxCopyObjectBytes = 5L << 30;

    private readonly S3BlobStore _store;
    private readonly BlobDigest? _hint;
    private readonly int _partSize;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[] _buffer = [];
    private int _capacity; // of _buffer, but never more than a part (the pool may hand out a larger array)
    private bool _isPartBuffer; // _buffer came from the store's part pool, not ArrayPool.Shared
    private int _buffered;
    private string? _uploadKey;
    private string? _uploadId;
    private readonly List<PartETag> _parts = [];
    private string? _temporaryObject;
    private bool _finished;

    public S3BlobWriter(S3BlobStore store, BlobDigest? hint)
    {
        _store = store;
        _hint = hint;
        _partSize = (int)store.Options.PartSizeBytes;
    }

    public long Length { get; private set; }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _hash.AppendData(data.Span);
        Length += data.Length;
        if (_buffered + data.Length <= _capacity)
        {
            data.Span.CopyTo(_buffer.AsSpan(_buffered));
            _buffered += data.Length;
            return ValueTask.CompletedTask;
        }

        return BufferAsync(data, cancellationToken);
    }

    public async Task<BlobCommit> CommitAsync(BlobDigest? expected, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        try
        {
            var actual = FinishHash();
            if (expected is { } want && want != actual)
            {
                throw new CacheException(
                    CacheError.Invalid, $"digest mismatch: expected {want.ToHex()}, got {actual.ToHex()} ({Length} bytes)");
            }

            if (_hint is { } hinted && hinted != actual)
            {
                throw new CacheException(
                    CacheError.Invalid, $"digest mismatch: the write began as {hinted.ToHex()}, got {actual.ToHex()} ({Length} bytes)");
            }

            if (actual == BlobDigest.Empty)
            {
                return new BlobCommit(actual, 0, AlreadyExisted: true);
            }

            // The key is the hash of the verified bytes, so writing it when the object exists already replaces it with
            // the same bytes: a reader sees the old or the new object, identical either way. One PutObject (or the
            // completion of the upload that already sent the parts to the final key) is then the whole commit, with
            // no HeadObject before it; it also renews the object's LastModified, so the orphan sweep's grace period
            // covers a blob an upload has just committed (an existing orphan the HeadObject found used to keep its
            // old time, and could be swept between the commit and the index row that names it). Only a blob staged
            // under a temporary key (no hint, over one part) still asks first, to skip a server-side copy.
            var key = _store.GetKey(actual);
            if (_uploadId is null)
            {
                await PutAsync(key, cancellationToken).ConfigureAwait(false);
                return new BlobCommit(actual, Length, AlreadyExisted: false);
            }

            if (_hint is null && await _store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false) is not null)
            {
                return new BlobCommit(actual, Length, AlreadyExisted: true); // the upload is aborted (DiscardAsync)
            }

            await UploadPartAsync(cancellationToken).ConfigureAwait(false);
            await CompleteAsync(cancellationToken).ConfigureAwait(false);
            if (_temporaryObject is { } temporary)
            {
                await CopyAsync(temporary, key, cancellationToken).ConfigureAwait(false);
            }

            return new BlobCommit(actual, Length, AlreadyExisted: false);
        }
        finally
        {
            await DiscardAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _finished = true;
        await DiscardAsync().ConfigureAwait(false);
    }

    /// <summary>Fills the buffer, sending a part whenever it is full and more bytes follow.</summary>
    private async ValueTask BufferAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            if (_buffered == _partSize)
            {
                await UploadPartAsync(cancellationToken).ConfigureAwait(false);
            }

            var n = Math.Min(data.Length, _partSize - _buffered);
            if (_buffered + n > _capacity)
            {
                await ReserveAsync(_buffered + n, cancellationToken).ConfigureAwait(false);
            }

            data.Span[..n].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += n;
            data = data[n..];
        }
    }

    private async ValueTask ReserveAsync(int needed, CancellationToken cancellationToken)
    {
        byte[] bigger;
        var size = Math.Max(needed, (int)Math.Min(_partSize, Math.Max(InitialBufferSize, (long)_capacity * 2)));
        if (size <= MaxSharedBufferSize)
        {
            bigger = ArrayPool<byte>.Shared.Rent(size);
        }
        else
        {
            bigger = await _store.PartBuffers.RentAsync(cancellationToken).ConfigureAwait(false);
        }

        _buffer.AsSpan(0, _buffered).CopyTo(bigger);
        ReturnBuffer();
        _buffer = bigger;
        _isPartBuffer = size > MaxSharedBufferSize;
        _capacity = Math.Min(bigger.Length, _partSize);
    }

    private async Task PutAsync(string key, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(_buffer, 0, _buffered, writable: false);
        var request = new PutObjectRequest
        {
            BucketName = _store.Bucket,
            Key = key,
            InputStream = body,
            AutoCloseStream = false,
            UseChunkEncoding = false,
            ContentType = "application/octet-stream",
        };
        await _store.CallAsync("PutObject", key, ct => _store.Client.PutObjectAsync(request, ct), cancellationToken).ConfigureAwait(false);
    }

    private async Task UploadPartAsync(CancellationToken cancellationToken)
    {
        if (_uploadId is null)
        {
            // Hinted: straight to the final key (invisible until completed). Otherwise a temporary key.
            var key = _hint is { } hint ? _store.GetKey(hint) : _store.NewTemporaryKey();
            var start = new InitiateMultipartUploadRequest { BucketName = _store.Bucket, Key = key, ContentType = "application/octet-stream" };
            var started = await _store.CallAsync(
                "CreateMultipartUpload", key, ct => _store.Client.InitiateMultipartUploadAsync(start, ct), cancellationToken).ConfigureAwait(false);
            (_uploadKey, _uploadId) = (key, started.UploadId);
        }

        if (_parts.Count == MaxParts)
        {
            throw new CacheException(
                CacheError.TooLarge, $"a blob over {MaxParts} parts of {_partSize} bytes does not fit one S3 upload; raise PartSizeBytes");
        }

        var number = _parts.Count + 1;
        using var body = new MemoryStream(_buffer, 0, _buffered, writable: false);
        var request = new UploadPartRequest
        {
            BucketName = _store.Bucket,
            Key = _uploadKey,
            UploadId = _uploadId,
            PartNumber = number,
            InputStream = body,
            PartSize = _buffered,
            UseChunkEncoding = false,
        };
        var part = await _store.CallAsync(
            "UploadPart", $"{_uploadKey} part {number}", ct => _store.Client.UploadPartAsync(request, ct), cancellationToken).ConfigureAwait(false);
        _parts.Add(new PartETag(number, part.ETag));
        _buffered = 0;
    }

    private async Task CompleteAsync(CancellationToken cancellationToken)
    {
        var key = _uploadKey!;
        var request = new CompleteMultipartUploadRequest { BucketName = _store.Bucket, Key = key, UploadId = _uploadId, PartETags = _parts };
        if (key.StartsWith(_store.UploadsPrefix, StringComparison.Ordinal))
        {
            _temporaryObject = key; // from here on, a temporary object to delete rather than an upload to abort
        }

        await _store.CallAsync("CompleteMultipartUpload", key, ct => _store.Client.CompleteMultipartUploadAsync(request, ct), cancellationToken).ConfigureAwait(false);
        _uploadId = null;
    }

    /// <summary>Server-side copy of a verified temporary object to its final key.</summary>
    private async Task CopyAsync(string source, string destination, CancellationToken cancellationToken)
    {
        if (Length <= MaxCopyObjectBytes)
        {
            var copy = new CopyObjectRequest
            {
                SourceBucket = _store.Bucket,
                SourceKey = source,
                DestinationBucket = _store.Bucket,
                DestinationKey = destination,
            };
            await _store.CallAsync("CopyObject", destination, ct => _store.Client.CopyObjectAsync(copy, ct), cancellationToken).ConfigureAwait(false);
            return;
        }

        // CopyObject stops at 5 GiB: copy in ranges of at least 512 MiB, at most 10000 of them.
        var partSize = Math.Max(512L << 20, (Length + MaxParts - 1) / MaxParts);
        var start = new InitiateMultipartUploadRequest { BucketName = _store.Bucket, Key = destination, ContentType = "application/octet-stream" };
        var started = await _store.CallAsync(
            "CreateMultipartUpload", destination, ct => _store.Client.InitiateMultipartUploadAsync(start, ct), cancellationToken).ConfigureAwait(false);
        var completed = false;
        try
        {
            var parts = new List<PartETag>();
            for (long first = 0; first < Length; first += partSize)
            {
                var number = parts.Count + 1;
                var request = new CopyPartRequest
                {
                    SourceBucket = _store.Bucket,
                    SourceKey = source,
                    DestinationBucket = _store.Bucket,
                    DestinationKey = destination,
                    UploadId = started.UploadId,
                    PartNumber = number,
                    FirstByte = first,
                    LastByte = Math.Min(first + partSize, Length) - 1,
                };
                var part = await _store.CallAsync(
                    "UploadPartCopy", $"{destination} part {number}", ct => _store.Client.CopyPartAsync(request, ct), cancellationToken).ConfigureAwait(false);
                parts.Add(new PartETag(number, part.ETag));
            }

            var complete = new CompleteMultipartUploadRequest { BucketName = _store.Bucket, Key = destination, UploadId = started.UploadId, PartETags = parts };
            await _store.CallAsync(
                "CompleteMultipartUpload", destination, ct => _store.Client.CompleteMultipartUploadAsync(complete, ct), cancellationToken).ConfigureAwait(false);
            completed = true;
        }
        finally
        {
            if (!completed)
            {
                await BestEffortAsync(() => _store.AbortUploadAsync(destination, started.UploadId, CancellationToken.None)).ConfigureAwait(false);
            }
        }
    }

    private BlobDigest FinishHash()
    {
        Span<byte> hash = stackalloc byte[BlobDigest.ByteLength];
        _hash.GetHashAndReset(hash);
        return BlobDigest.FromBytes(hash);
    }

    /// <summary>Returns the buffer and removes whatever this write left in the bucket (idempotent).</summary>
    private async ValueTask DiscardAsync()
    {
        ReturnBuffer();
        _buffer = [];
        _capacity = 0;
        _buffered = 0;
        _hash.Dispose();
        if (_uploadId is { } uploadId)
        {
            _uploadId = null;
            var key = _uploadKey!;
            await BestEffortAsync(() => _store.AbortUploadAsync(key, uploadId, CancellationToken.None)).ConfigureAwait(false);
        }

        if (_temporaryObject is { } temporary)
        {
            _temporaryObject = null;
            await BestEffortAsync(() => _store.DeleteObjectAsync(temporary, CancellationToken.None)).ConfigureAwait(false);
        }
    }

    private void ReturnBuffer()
    {
        if (_isPartBuffer)
        {
            _store.PartBuffers.Return(_buffer);
        }
        else if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _isPartBuffer = false;
    }

    // A clean-up that fails must not replace the error (or result) of the write; the stale-upload sweep is the backstop.
    private static async Task BestEffortAsync(Func<Task> cleanup)
    {
        try
        {
            await cleanup().ConfigureAwait(false);
        }
        catch (CacheException)
        {
        }
    }
}
