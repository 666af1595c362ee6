using System.Buffers;
using System.Runtime.InteropServices;
using static Flywheel.Cache.Compression.Native.LibLzma;

namespace Flywheel.Cache.Compression;

/// <summary>
/// xz (<c>.nar.xz</c>) through the system liblzma's easy encoder (preset 6 and CRC64, as the <c>xz</c> tool and Nix
/// write it). One instance makes one stream.
/// </summary>
public sealed unsafe class XzCompressor : ICompressor
{
    public const uint DefaultPreset = 6;

    private const int ChunkHint = 64 * 1024;

    private LzmaStream* _stream;

    public XzCompressor(uint preset = DefaultPreset)
    {
        _stream = (LzmaStream*)NativeMemory.AllocZeroed((nuint)sizeof(LzmaStream));
        var ret = EasyEncoder(_stream, preset, LZMA_CHECK_CRC64);
        if (ret != LZMA_OK)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            throw new InvalidOperationException($"lzma_easy_encoder failed: {Describe(ret)}");
        }
    }

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!input.IsEmpty)
        {
            Run(input, LZMA_RUN, output);
        }
    }

    public void Finish(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Run(default, LZMA_FINISH, output);
    }

    private void Run(ReadOnlySpan<byte> input, int action, IBufferWriter<byte> output)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        var s = _stream;
        fixed (byte* inPtr = input)
        {
            s->NextIn = inPtr;
            s->AvailIn = (nuint)input.Length;
            try
            {
                while (true)
                {
                    var span = output.GetSpan(ChunkHint);
                    int ret;
                    int produced;
                    fixed (byte* outPtr = span)
                    {
                        s->NextOut = outPtr;
                        s->AvailOut = (nuint)span.Length;
                        ret = Code(s, action);
                        produced = span.Length - (int)s->AvailOut;
                        s->NextOut = null;
                        s->AvailOut = 0;
                    }

                    output.Advance(produced);
                    if (ret == LZMA_STREAM_END)
                    {
                        return;
                    }

                    if (ret != LZMA_OK)
                    {
                        throw new InvalidOperationException($"xz compression failed: {Describe(ret)}");
                    }

                    if (action == LZMA_RUN && s->AvailIn == 0)
                    {
                        return;
                    }
                }
            }
            finally
            {
                s->NextIn = null;
                s->AvailIn = 0;
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
        }
    }
}
