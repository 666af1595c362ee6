using System.Buffers;
using System.IO.Pipelines;

namespace Flywheel.Cache.Compression;

/// <summary>
/// The decompressed bytes of a compressed stream, to read. The push-based decompressors write into a pipe on a
/// worker that waits whenever the reader is <see cref="WindowBytes"/> behind, so memory stays bounded whatever the
/// compression ratio (a few kilobytes of zstd can expand to gigabytes). Disposing the stream early stops the worker.
/// </summary>
public sealed class DecompressingReadStream : Stream
{
    public const int WindowBytes = 1024 * 1024;
    private const int InputChunk = 64 * 1024;

    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: WindowBytes, resumeWriterThreshold: WindowBytes / 2, useSynchronizationContext: false));
    private readonly Stream _reader;
    private readonly Task _worker;
    private bool _disposed;

    /// <param name="source">The compressed bytes; owned (disposed with this stream).</param>
    public DecompressingReadStream(Stream source, NarCompression compression)
    {
        ArgumentNullException.ThrowIfNull(source);
        _reader = _pipe.Reader.AsStream();
        _worker = Task.Run(() => Pump(source, compression));
    }

    private void Pump(Stream source, NarCompression compression)
    {
        var sink = new PipeSink(_pipe.Writer);
        var buffer = ArrayPool<byte>.Shared.Rent(InputChunk);
        try
        {
            using (source)
            using (var decompressor = Decompressors.Create(compression))
            {
                int read;
                while ((read = source.Read(buffer, 0, InputChunk)) > 0)
                {
                    decompressor.Decompress(buffer.AsSpan(0, read), sink);
                }

                decompressor.Finish(sink);
            }

            _pipe.Writer.Complete();
        }
        catch (ReaderGoneException)
        {
            _pipe.Writer.Complete();
        }
        catch (Exception e)
        {
            _pipe.Writer.Complete(e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override bool CanRead => !_disposed;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => _reader.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => _reader.Read(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _reader.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _reader.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _pipe.Reader.Complete(); // the worker's next flush sees it and stops
            _worker.GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
            await _worker.ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class ReaderGoneException : Exception;

    private sealed class PipeSink(PipeWriter writer) : IDecompressedSink
    {
        public void Write(ReadOnlySpan<byte> data)
        {
            writer.Write(data);
            // The worker is a thread of its own: waiting here for the reader is the back pressure.
            var flushed = writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            if (flushed.IsCompleted)
            {
                throw new ReaderGoneException();
            }
        }
    }
}
