using System.Runtime.InteropServices;
using Flywheel.Cache.Compression.Native;
using static Flywheel.Cache.Compression.Native.LibLzma;

namespace Flywheel.Cache.Compression;

/// <summary>xz (<c>.nar.xz</c>) through the system liblzma; concatenated xz streams are decoded as one.</summary>
public sealed unsafe class XzDecompressor : IDecompressor
{
    private LzmaStream* _stream;
    private PooledBuffer _buffer;

    public XzDecompressor()
    {
        _stream = (LzmaStream*)NativeMemory.AllocZeroed((nuint)sizeof(LzmaStream));
        var ret = StreamDecoder(_stream, ulong.MaxValue, LZMA_CONCATENATED);
        if (ret != LZMA_OK)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            throw new InvalidOperationException($"lzma_stream_decoder failed: {Describe(ret)}");
        }

        _buffer = PooledBuffer.Rent();
    }

    public void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        if (!input.IsEmpty)
        {
            Run(input, LZMA_RUN, sink);
        }
    }

    public void Finish(IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        if (_stream->TotalIn == 0)
        {
            DecompressionErrors.Invalid("xz", "no data");
        }

        Run(default, LZMA_FINISH, sink);
    }

    private void Run(ReadOnlySpan<byte> input, int action, IDecompressedSink sink)
    {
        var output = _buffer.Array;
        var stalls = 0;
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var s = _stream;
            s->NextIn = inPtr;
            s->AvailIn = (nuint)input.Length;
            try
            {
                while (true)
                {
                    s->NextOut = outPtr;
                    s->AvailOut = (nuint)output.Length;
                    var ret = Code(s, action);
                    var produced = output.Length - (int)s->AvailOut;
                    if (produced > 0)
                    {
                        sink.Write(output.AsSpan(0, produced));
                    }

                    if (ret == LZMA_STREAM_END)
                    {
                        // Only reported on LZMA_FINISH with LZMA_CONCATENATED.
                        return;
                    }

                    if (ret != LZMA_OK)
                    {
                        if (ret == LZMA_BUF_ERROR && action == LZMA_FINISH)
                        {
                            DecompressionErrors.Truncated("xz");
                        }

                        DecompressionErrors.Invalid("xz", Describe(ret));
                    }

                    if (action == LZMA_RUN)
                    {
                        if (s->AvailIn == 0 && s->AvailOut != 0)
                        {
                            return;
                        }
                    }
                    else if (produced == 0 && ++stalls > 2)
                    {
                        DecompressionErrors.Truncated("xz");
                    }
                }
            }
            finally
            {
                s->NextIn = null;
                s->AvailIn = 0;
                s->NextOut = null;
                s->AvailOut = 0;
            }
        }
    }

    public void Dispose()
    {
        if (_stream is not null)
        {
            End(_stream);
            NativeMemory.Free(_stream);
            _stream = null;
            _buffer.Return();
        }
    }
}
