using System.Buffers;
using Flywheel.Cache.Compression.Native;

namespace Flywheel.Cache.Compression;

/// <summary>
/// A push-based zstd compressor through the system's libzstd (<see cref="LibZstd"/>; native speed from the first byte,
/// where the managed port spent most of a short-lived <c>flywheel push</c> in the JIT): chunks in, compressed bytes
/// written straight into an <see cref="IBufferWriter{T}"/>; <see cref="Finish"/> ends the frame. One instance makes
/// one frame. Given the size of the input in advance
/// (<c>contentSize</c>), zstd sizes its tables for it (a few KiB of input no longer sets up, and zeroes, the
/// megabyte of match tables a level-3 stream of unknown size gets) and records the size in the frame header.
/// </summary>
public sealed unsafe class ZstdCompressor : ICompressor
{
    public const int DefaultLevel = 3;

    // ZSTD_CStreamOutSize() is ~128 KiB; any size works, this is what we ask the writer for.
    private const int ChunkHint = 64 * 1024;

    private void* _stream;

    public ZstdCompressor(int level = DefaultLevel, long? contentSize = null)
    {
        _stream = LibZstd.CreateCCtx();
        if (_stream == null)
        {
            throw new InvalidOperationException("ZSTD_createCCtx failed");
        }

        var ret = LibZstd.SetParameter(_stream, LibZstd.CompressionLevel, level);
        if (LibZstd.Failed(ret))
        {
            LibZstd.FreeCCtx(_stream);
            _stream = null;
            throw new ArgumentOutOfRangeException(nameof(level), level, $"zstd rejected the level: {LibZstd.Describe(ret)}");
        }

        if (contentSize is { } size)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(size, nameof(contentSize));
            LibZstd.SetPledgedSrcSize(_stream, (ulong)size); // cannot fail on a fresh stream
        }
    }

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!input.IsEmpty)
        {
            Run(input, LibZstd.Continue, output);
        }
    }

    /// <summary>Writes the rest of the frame, including its end.</summary>
    public void Finish(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Run(default, LibZstd.End, output);
    }

    private void Run(ReadOnlySpan<byte> input, int directive, IBufferWriter<byte> output)
    {
        ObjectDisposedException.ThrowIf(_stream == null, this);
        fixed (byte* inPtr = input)
        {
            var inBuffer = new LibZstd.InBuffer { Src = inPtr, Size = (nuint)input.Length, Pos = 0 };
            while (true)
            {
                var span = output.GetSpan(ChunkHint);
                nuint remaining;
                int written;
                fixed (byte* outPtr = span)
                {
                    var outBuffer = new LibZstd.OutBuffer { Dst = outPtr, Size = (nuint)span.Length, Pos = 0 };
                    remaining = LibZstd.CompressStream2(_stream, &outBuffer, &inBuffer, directive);
                    written = (int)outBuffer.Pos;
                }

                if (LibZstd.Failed(remaining))
                {
                    throw new InvalidOperationException($"zstd compression failed: {LibZstd.Describe(remaining)}");
                }

                output.Advance(written);
                var inputDone = inBuffer.Pos == inBuffer.Size;
                if (directive == LibZstd.Continue ? inputDone : inputDone && remaining == 0)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Compresses a whole buffer into one frame (convenience for tests and tools).</summary>
    public static byte[] CompressAll(ReadOnlySpan<byte> input, int level = DefaultLevel)
    {
        using var compressor = new ZstdCompressor(level);
        var writer = new ArrayBufferWriter<byte>();
        compressor.Compress(input, writer);
        compressor.Finish(writer);
        return writer.WrittenSpan.ToArray();
    }

    public void Dispose()
    {
        if (_stream != null)
        {
            LibZstd.FreeCCtx(_stream);
            _stream = null;
        }
    }
}
