using System.Buffers;
using ZstdSharp.Unsafe;
using static ZstdSharp.Unsafe.Methods;

namespace Flywheel.Cache.Compression;

/// <summary>
/// A push-based zstd compressor through ZstdSharp: chunks in, compressed bytes written straight into
/// an <see cref="IBufferWriter{T}"/>; <see cref="Finish"/> ends the frame. One instance makes one frame.
/// ZstdSharp is the managed port of libzstd; its streaming API is libzstd's. Given the size of the input in advance
/// (<c>contentSize</c>), zstd sizes its tables for it (a few KiB of input no longer sets up, and zeroes, the
/// megabyte of match tables a level-3 stream of unknown size gets) and records the size in the frame header.
/// </summary>
public sealed unsafe class ZstdCompressor : ICompressor
{
    public const int DefaultLevel = 3;

    // ZSTD_CStreamOutSize() is ~128 KiB; any size works, this is what we ask the writer for.
    private const int ChunkHint = 64 * 1024;

    private ZSTD_CCtx_s* _stream;

    public ZstdCompressor(int level = DefaultLevel, long? contentSize = null)
    {
        _stream = ZSTD_createCStream();
        if (_stream == null)
        {
            throw new InvalidOperationException("ZSTD_createCStream failed");
        }

        var ret = ZSTD_CCtx_setParameter(_stream, ZSTD_cParameter.ZSTD_c_compressionLevel, level);
        if (ZSTD_isError(ret))
        {
            ZSTD_freeCStream(_stream);
            _stream = null;
            throw new ArgumentOutOfRangeException(nameof(level), level, $"zstd rejected the level: {ZSTD_getErrorName(ret)}");
        }

        if (contentSize is { } size)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(size, nameof(contentSize));
            ZSTD_CCtx_setPledgedSrcSize(_stream, (ulong)size); // cannot fail on a fresh stream
        }
    }

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!input.IsEmpty)
        {
            Run(input, ZSTD_EndDirective.ZSTD_e_continue, output);
        }
    }

    /// <summary>Writes the rest of the frame, including its end.</summary>
    public void Finish(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Run(default, ZSTD_EndDirective.ZSTD_e_end, output);
    }

    private void Run(ReadOnlySpan<byte> input, ZSTD_EndDirective directive, IBufferWriter<byte> output)
    {
        ObjectDisposedException.ThrowIf(_stream == null, this);
        fixed (byte* inPtr = input)
        {
            var inBuffer = new ZSTD_inBuffer_s { src = inPtr, size = (nuint)input.Length, pos = 0 };
            while (true)
            {
                var span = output.GetSpan(ChunkHint);
                nuint remaining;
                int written;
                fixed (byte* outPtr = span)
                {
                    var outBuffer = new ZSTD_outBuffer_s { dst = outPtr, size = (nuint)span.Length, pos = 0 };
                    remaining = ZSTD_compressStream2(_stream, &outBuffer, &inBuffer, directive);
                    written = (int)outBuffer.pos;
                }

                if (ZSTD_isError(remaining))
                {
                    throw new InvalidOperationException($"zstd compression failed: {ZSTD_getErrorName(remaining)}");
                }

                output.Advance(written);
                var inputDone = inBuffer.pos == inBuffer.size;
                if (directive == ZSTD_EndDirective.ZSTD_e_continue ? inputDone : inputDone && remaining == 0)
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
            ZSTD_freeCStream(_stream);
            _stream = null;
        }
    }
}
