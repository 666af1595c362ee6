using System.Buffers;

namespace Flywheel.Cache.Compression;

/// <summary>
/// A push-based compressor making one compressed stream: chunks in, compressed bytes written straight into an
/// <see cref="IBufferWriter{T}"/>, <see cref="Finish"/> ends it. zstd (<see cref="ZstdCompressor"/>) and xz
/// (<see cref="XzCompressor"/>), for what <c>flywheel push</c> uploads and for <c>compressed-blobs/zstd/</c>.
/// </summary>
public interface ICompressor : IDisposable
{
    void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output);

    /// <summary>Writes the rest of the stream, including its end.</summary>
    void Finish(IBufferWriter<byte> output);
}
