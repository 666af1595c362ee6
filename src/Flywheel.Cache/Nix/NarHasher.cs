using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Nix;

/// <summary>What an uploaded NAR file turned out to be: its size, and the hash and size of the NAR inside.</summary>
public readonly record struct NarHashResult(long FileSize, NixHash NarHash, long NarSize);

/// <summary>
/// The upload verifier: fed the (compressed) NAR file chunk by chunk as it arrives, it decompresses the bytes, hashes
/// the NAR and checks that it is exactly one well-formed NAR (<see cref="NarValidator"/>: a truncated archive or one
/// followed by anything else is refused). No allocation per chunk.
/// The file's own hash (its FileHash) is not computed here: the blob writer the same bytes go to hashes what it
/// stores and commits it only under that hash (<see cref="IBlobWriter.CommitAsync"/> with the name's FileHash), so a
/// NAR upload hashes its file once (it used to be twice: here, then in the writer).
/// </summary>
public sealed class NarHasher : IDisposable
{
    private readonly NarSink _nar = new();
    private readonly IDecompressor _decompressor;
    private readonly NarCompression _compression;
    private long _fileSize;
    private bool _completed;
    private bool _disposed;

    public NarHasher(NarCompression compression)
    {
        _compression = compression;
        _decompressor = Decompressors.Create(compression);
    }

    public NarCompression Compression => _compression;

    /// <summary>Bytes of the file seen so far.</summary>
    public long FileSize => _fileSize;

    /// <summary>Bytes of NAR decompressed so far.</summary>
    public long NarSize => _nar.Size;

    /// <exception cref="CacheException">Invalid, when the data is not valid for its compression or is not a NAR.</exception>
    public void Append(ReadOnlySpan<byte> compressedChunk)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            ThrowCompleted();
        }

        _fileSize += compressedChunk.Length;
        _decompressor.Decompress(compressedChunk, _nar);
    }

    /// <exception cref="CacheException">Invalid, when the data was truncated, corrupt or not a NAR.</exception>
    public NarHashResult Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            ThrowCompleted();
        }

        _completed = true;
        _decompressor.Finish(_nar);
        _nar.Validator.Complete();

        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        _nar.Hash.GetHashAndReset(bytes);
        return new NarHashResult(_fileSize, NixHash.FromDigest(BlobDigest.FromBytes(bytes)), _nar.Size);
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _decompressor.Dispose();
            _nar.Hash.Dispose();
            _nar.Validator.Dispose();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowCompleted() => throw new InvalidOperationException("the NAR hasher has completed already");

    private sealed class NarSink : IDecompressedSink
    {
        public IncrementalHash Hash { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public NarValidator Validator { get; } = new();

        public long Size => Validator.Size;

        public void Write(ReadOnlySpan<byte> data)
        {
            Validator.Append(data);
            Hash.AppendData(data);
        }
    }
}
