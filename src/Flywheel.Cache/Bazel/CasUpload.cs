using System.Buffers;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Bazel;

/// <summary>
/// One CAS blob being uploaded (ByteStream Write, BatchUpdateBlobs, HTTP <c>/cas/</c> PUT). Bytes go to a
/// temporary blob while being hashed; <see cref="CommitAsync"/> makes the blob visible only when its size and
/// hash are the expected ones, then records it in the index as one the uploading cache owns. Bytes the store has
/// already (another cache's) are verified all the same and not written a second time. Disposing without a commit leaves nothing behind.
/// A zstd upload is decompressed as it arrives; the expected digest is that of the uncompressed bytes.
/// </summary>
public sealed class CasUpload : IAsyncDisposable
{
    private readonly IBlobWriter _writer;
    private readonly long _cacheId;
    private readonly IBlobIndex _blobIndex;
    private readonly TimeProvider _time;
    private readonly IDecompressor? _decompressor;
    private readonly DecompressedBuffer? _decompressed;
    private bool _committed;
    private bool _disposed;

    internal CasUpload(IBlobWriter writer, BazelDigest expected, BlobCompressor compressor, long cacheId, IBlobIndex blobIndex, TimeProvider time)
    {
        _writer = writer;
        _cacheId = cacheId;
        _blobIndex = blobIndex;
        _time = time;
        Expected = expected;
        Compressor = compressor;
        if (compressor == BlobCompressor.Zstd)
        {
            _decompressor = new ZstdDecompressor();
            _decompressed = new DecompressedBuffer(expected);
        }
    }

    public BazelDigest Expected { get; }

    public BlobCompressor Compressor { get; }

    /// <summary>Bytes received so far, as sent (compressed bytes for a compressed upload).</summary>
    public long Committed { get; private set; }

    /// <summary>The size the blob must have once complete (uncompressed).</summary>
    public long Length => Expected.SizeBytes;

    /// <summary>Uncompressed bytes written to the store so far.</summary>
    public long Written => _writer.Length;

    public bool IsCommitted => _committed;

    /// <summary>
    /// Appends the next bytes. More (uncompressed) bytes than the expected size are refused at once with
    /// <see cref="CacheError.Invalid"/>, so an oversized or lying upload costs no more disk than it declared.
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed)
        {
            throw new InvalidOperationException($"the upload of {Expected} is committed already");
        }

        Committed += data.Length;
        if (_decompressor is null)
        {
            if (_writer.Length + data.Length > Expected.SizeBytes)
            {
                throw TooManyBytes(_writer.Length + data.Length);
            }

            return _writer.WriteAsync(data, cancellationToken);
        }

        _decompressor.Decompress(data.Span, _decompressed!);
        return FlushDecompressedAsync(cancellationToken);
    }

    /// <summary>
    /// Verifies size and hash, makes the blob visible and records it in the index. On a mismatch nothing is stored
    /// and <see cref="CacheError.Invalid"/> names the expected digest and what arrived.
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed)
        {
            return;
        }

        if (_decompressor is not null)
        {
            _decompressor.Finish(_decompressed!);
            await FlushDecompressedAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_writer.Length != Expected.SizeBytes)
        {
            throw CacheException.Invalid(
                $"blob {Expected} was uploaded with {_writer.Length} bytes, but its digest says {Expected.SizeBytes}");
        }

        BlobCommit commit;
        try
        {
            commit = await _writer.CommitAsync(Expected.Hash, cancellationToken).ConfigureAwait(false);
        }
        catch (CacheException e) when (e.Error == CacheError.Invalid)
        {
            throw new CacheException(CacheError.Invalid, $"blob {Expected} was uploaded with other content: {e.Message}", e);
        }

        var now = _time.GetUtcNow();
        await _blobIndex.RecordBlobAsync(commit.Digest, commit.Size, now, cancellationToken).ConfigureAwait(false);
        await _blobIndex.AddCacheBlobsAsync(_cacheId, [commit.Digest], now, cancellationToken).ConfigureAwait(false);
        _committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _decompressor?.Dispose();
        _decompressed?.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
    }

    private async ValueTask FlushDecompressedAsync(CancellationToken cancellationToken)
    {
        var pending = _decompressed!;
        if (pending.WrittenCount == 0)
        {
            return;
        }

        if (_writer.Length + pending.WrittenCount > Expected.SizeBytes)
        {
            throw TooManyBytes(_writer.Length + pending.WrittenCount);
        }

        await _writer.WriteAsync(pending.WrittenMemory, cancellationToken).ConfigureAwait(false);
        pending.Clear();
    }

    private CacheException TooManyBytes(long length) => CacheException.Invalid(
        $"blob {Expected} was uploaded with at least {length} bytes, but its digest says {Expected.SizeBytes}");

    /// <summary>Collects what the decompressor yields for one chunk; refuses to grow past the expected size (zstd bombs).</summary>
    private sealed class DecompressedBuffer(BazelDigest expected) : IDecompressedSink, IDisposable
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);

        public int WrittenCount { get; private set; }

        public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, WrittenCount);

        public void Write(ReadOnlySpan<byte> data)
        {
            if (WrittenCount + (long)data.Length > expected.SizeBytes)
            {
                throw CacheException.Invalid(
                    $"blob {expected} decompresses to more bytes than its digest says ({expected.SizeBytes})");
            }

            if (WrittenCount + data.Length > _buffer.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, WrittenCount + data.Length));
                _buffer.AsSpan(0, WrittenCount).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }

            data.CopyTo(_buffer.AsSpan(WrittenCount));
            WrittenCount += data.Length;
        }

        public void Clear() => WrittenCount = 0;

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
