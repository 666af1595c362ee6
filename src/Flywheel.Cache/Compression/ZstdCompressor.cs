using System.Buffers;
using Flywheel.Cache.Compression.Native;
using static Flywheel.Cache.Compression.Native.LibZstd;

namespace Flywheel.Cache.Compression;

/// <summary>
/// A push-based zstd compressor through the system libzstd: chunks in, compressed bytes written straight into
/// an <see cref="IBufferWriter{T}"/>; <see cref="Finish"/> ends the frame. One instance makes one frame.
/// </summary>
public sealed unsafe class ZstdCompressor : IDisposable
{
    public const int DefaultLevel = 3;

    // ZSTD_CStreamOutSize() is ~128 KiB; any size works, this is what we ask the writer for.
    private const int ChunkHint = 64 * 1024;

    private nint _stream;

    public ZstdCompressor(int level = DefaultLevel)
    {
        _stream = CreateCStream();
        if (_stream == 0)
        {
            throw new InvalidOperationException("ZSTD_createCStream failed");
        }

        var ret = CctxSetParameter(_stream, CompressionLevelParameter, level);
        if (IsError(ret) != 0)
        {
            FreeCStream(_stream);
            _stream = 0;
            throw new ArgumentOutOfRangeException(nameof(level), level, $"zstd rejected the level: {ErrorName(ret)}");
        }
    }

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!input.IsEmpty)
        {
            Run(input, EndContinue, output);
        }
    }

    /// <summary>Writes the rest of the frame, including its end.</summary>
    public void Finish(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Run(default, EndEnd, output);
    }

    private void Run(ReadOnlySpan<byte> input, int directive, IBufferWriter<byte> output)
    {
        ObjectDisposedException.ThrowIf(_stream == 0, this);
        fixed (byte* inPtr = input)
        {
            var inBuffer = new InBuffer { Src = inPtr, Size = (nuint)input.Length, Pos = 0 };
            while (true)
            {
                var span = output.GetSpan(ChunkHint);
                nuint remaining;
                int written;
                fixed (byte* outPtr = span)
                {
                    var outBuffer = new OutBuffer { Dst = outPtr, Size = (nuint)span.Length, Pos = 0 };
                    remaining = CompressStream2(_stream, &outBuffer, &inBuffer, directive);
                    written = (int)outBuffer.Pos;
                }

                if (IsError(remaining) != 0)
                {
                    throw new InvalidOperationException($"zstd compression failed: {ErrorName(remaining)}");
                }

                output.Advance(written);
                var inputDone = inBuffer.Pos == inBuffer.Size;
                if (directive == EndContinue ? inputDone : inputDone && remaining == 0)
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
        if (_stream != 0)
        {
            FreeCStream(_stream);
            _stream = 0;
        }
    }
}
