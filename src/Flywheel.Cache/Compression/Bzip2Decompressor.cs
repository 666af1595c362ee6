using System.Runtime.InteropServices;
using Flywheel.Cache.Compression.Native;
using static Flywheel.Cache.Compression.Native.LibBz2;

namespace Flywheel.Cache.Compression;

/// <summary>bzip2 (<c>.nar.bz2</c>) through the system libbz2; concatenated bzip2 streams are decoded as one.</summary>
public sealed unsafe class Bzip2Decompressor : IDecompressor
{
    private BzStream* _stream;
    private PooledBuffer _buffer;
    private bool _sawInput;

    // True between the end of one bzip2 stream and the start of the next.
    private bool _atStreamEnd;

    public Bzip2Decompressor()
    {
        _stream = (BzStream*)NativeMemory.AllocZeroed((nuint)sizeof(BzStream));
        var ret = DecompressInit(_stream, 0, 0);
        if (ret != BZ_OK)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            throw new InvalidOperationException($"BZ2_bzDecompressInit failed: {Describe(ret)}");
        }

        _buffer = PooledBuffer.Rent();
    }

    public void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        if (input.IsEmpty)
        {
            return;
        }

        _sawInput = true;
        var output = _buffer.Array;
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var s = _stream;
            var nextIn = inPtr;
            var availIn = (uint)input.Length;
            try
            {
                while (true)
                {
                    if (_atStreamEnd)
                    {
                        RestartStream();
                    }

                    s->NextIn = nextIn;
                    s->AvailIn = availIn;
                    s->NextOut = outPtr;
                    s->AvailOut = (uint)output.Length;
                    var ret = LibBz2.Decompress(s);
                    nextIn = s->NextIn;
                    availIn = s->AvailIn;
                    var produced = output.Length - (int)s->AvailOut;
                    if (produced > 0)
                    {
                        sink.Write(output.AsSpan(0, produced));
                    }

                    if (ret == BZ_STREAM_END)
                    {
                        _atStreamEnd = true;
                        if (availIn == 0)
                        {
                            return;
                        }

                        continue;
                    }

                    if (ret != BZ_OK)
                    {
                        DecompressionErrors.Invalid("bzip2", Describe(ret));
                    }

                    if (availIn == 0 && s->AvailOut != 0)
                    {
                        return;
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

    public void Finish(IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        if (!_sawInput)
        {
            DecompressionErrors.Invalid("bzip2", "no data");
        }

        if (!_atStreamEnd)
        {
            DecompressionErrors.Truncated("bzip2");
        }
    }

    private void RestartStream()
    {
        DecompressEnd(_stream);
        *_stream = default;
        var ret = DecompressInit(_stream, 0, 0);
        if (ret != BZ_OK)
        {
            throw new InvalidOperationException($"BZ2_bzDecompressInit failed: {Describe(ret)}");
        }

        _atStreamEnd = false;
    }

    public void Dispose()
    {
        if (_stream is not null)
        {
            DecompressEnd(_stream);
            NativeMemory.Free(_stream);
            _stream = null;
            _buffer.Return();
        }
    }
}
