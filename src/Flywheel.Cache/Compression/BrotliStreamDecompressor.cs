using System.Buffers;
using System.IO.Compression;

namespace Flywheel.Cache.Compression;

/// <summary>Brotli (<c>.nar.br</c>) through <see cref="BrotliDecoder"/>. Brotli has no concatenated form.</summary>
public sealed class BrotliStreamDecompressor : IDecompressor
{
    private BrotliDecoder _decoder;
    private PooledBuffer _buffer = PooledBuffer.Rent();
    private bool _done;
    private bool _disposed;

    public void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_done)
        {
            if (!input.IsEmpty)
            {
                DecompressionErrors.TrailingData("brotli");
            }

            return;
        }

        Run(input, sink);
    }

    public void Finish(IDecompressedSink sink)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_done)
        {
            Run(default, sink);
            if (!_done)
            {
                DecompressionErrors.Truncated("brotli");
            }
        }
    }

    private void Run(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        var output = _buffer.Array;
        while (true)
        {
            var status = _decoder.Decompress(input, output, out var consumed, out var written);
            input = input[consumed..];
            if (written > 0)
            {
                sink.Write(output.AsSpan(0, written));
            }

            switch (status)
            {
                case OperationStatus.Done:
                    _done = true;
                    if (!input.IsEmpty)
                    {
                        DecompressionErrors.TrailingData("brotli");
                    }

                    return;
                case OperationStatus.DestinationTooSmall:
                    continue;
                case OperationStatus.NeedMoreData:
                    if (input.IsEmpty)
                    {
                        return;
                    }

                    if (consumed == 0 && written == 0)
                    {
                        DecompressionErrors.Invalid("brotli", "the decoder made no progress");
                    }

                    continue;
                default:
                    DecompressionErrors.Invalid("brotli", "corrupt brotli data");
                    return;
            }
        }
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _decoder.Dispose();
            _buffer.Return();
        }
    }
}
