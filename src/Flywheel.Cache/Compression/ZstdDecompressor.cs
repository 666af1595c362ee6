using Flywheel.Cache.Compression.Native;
using static Flywheel.Cache.Compression.Native.LibZstd;

namespace Flywheel.Cache.Compression;

/// <summary>zstd (<c>.nar.zst</c>) through the system libzstd; several frames in a row are decoded as one stream.</summary>
public sealed unsafe class ZstdDecompressor : IDecompressor
{
    private nint _stream;
    private PooledBuffer _buffer;
    private bool _sawInput;

    // ZSTD_decompressStream returns 0 exactly when a frame is complete and flushed.
    private nuint _lastHint;

    public ZstdDecompressor()
    {
        _stream = CreateDStream();
        if (_stream == 0)
        {
            throw new InvalidOperationException("ZSTD_createDStream failed");
        }

        var ret = InitDStream(_stream);
        if (IsError(ret) != 0)
        {
            FreeDStream(_stream);
            _stream = 0;
            throw new InvalidOperationException($"ZSTD_initDStream failed: {ErrorName(ret)}");
        }

        _buffer = PooledBuffer.Rent();
    }

    public void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream == 0, this);
        if (input.IsEmpty)
        {
            return;
        }

        _sawInput = true;
        var output = _buffer.Array;
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var inBuffer = new InBuffer { Src = inPtr, Size = (nuint)input.Length, Pos = 0 };
            while (true)
            {
                var outBuffer = new OutBuffer { Dst = outPtr, Size = (nuint)output.Length, Pos = 0 };
                var ret = DecompressStream(_stream, &outBuffer, &inBuffer);
                if (IsError(ret) != 0)
                {
                    DecompressionErrors.Invalid("zstd", ErrorName(ret));
                }

                _lastHint = ret;
                if (outBuffer.Pos > 0)
                {
                    sink.Write(output.AsSpan(0, (int)outBuffer.Pos));
                }

                var outputFull = outBuffer.Pos == outBuffer.Size;
                if (inBuffer.Pos == inBuffer.Size && (!outputFull || ret == 0))
                {
                    return;
                }
            }
        }
    }

    public void Finish(IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream == 0, this);
        if (!_sawInput)
        {
            DecompressionErrors.Invalid("zstd", "no data");
        }

        if (_lastHint != 0)
        {
            DecompressionErrors.Truncated("zstd");
        }
    }

    public void Dispose()
    {
        if (_stream != 0)
        {
            FreeDStream(_stream);
            _stream = 0;
            _buffer.Return();
        }
    }
}
