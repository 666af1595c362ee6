using ZstdSharp.Unsafe;
using static ZstdSharp.Unsafe.Methods;

namespace Flywheel.Cache.Compression;

/// <summary>
/// zstd (<c>.nar.zst</c>) through ZstdSharp, the managed port of libzstd (its streaming API, unchanged);
/// several frames in a row are decoded as one stream. The context lives in unmanaged memory ZstdSharp allocates.
/// </summary>
public sealed unsafe class ZstdDecompressor : IDecompressor
{
    private ZSTD_DCtx_s* _stream;
    private PooledBuffer _buffer;
    private bool _sawInput;

    // ZSTD_decompressStream returns 0 exactly when a frame is complete and flushed.
    private nuint _lastHint;

    public ZstdDecompressor()
    {
        _stream = ZSTD_createDStream();
        if (_stream == null)
        {
            throw new InvalidOperationException("ZSTD_createDStream failed");
        }

        var ret = ZSTD_initDStream(_stream);
        if (ZSTD_isError(ret))
        {
            ZSTD_freeDStream(_stream);
            _stream = null;
            throw new InvalidOperationException($"ZSTD_initDStream failed: {ZSTD_getErrorName(ret)}");
        }

        _buffer = PooledBuffer.Rent();
    }

    public void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream == null, this);
        if (input.IsEmpty)
        {
            return;
        }

        _sawInput = true;
        var output = _buffer.Array;
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var inBuffer = new ZSTD_inBuffer_s { src = inPtr, size = (nuint)input.Length, pos = 0 };
            while (true)
            {
                var outBuffer = new ZSTD_outBuffer_s { dst = outPtr, size = (nuint)output.Length, pos = 0 };
                var ret = ZSTD_decompressStream(_stream, &outBuffer, &inBuffer);
                if (ZSTD_isError(ret))
                {
                    DecompressionErrors.Invalid("zstd", ZSTD_getErrorName(ret));
                }

                _lastHint = ret;
                if (outBuffer.pos > 0)
                {
                    sink.Write(output.AsSpan(0, (int)outBuffer.pos));
                }

                var outputFull = outBuffer.pos == outBuffer.size;
                if (inBuffer.pos == inBuffer.size && (!outputFull || ret == 0))
                {
                    return;
                }
            }
        }
    }

    public void Finish(IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream == null, this);
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
        if (_stream != null)
        {
            ZSTD_freeDStream(_stream);
            _stream = null;
            _buffer.Return();
        }
    }
}
