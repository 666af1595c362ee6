namespace Flywheel.Cache.Compression;

/// <summary>
/// A write-only <see cref="Stream"/> that decompresses what is written to it into another stream
/// (convenience for tests, tools and benchmarks). Call <see cref="Complete"/> after the last write: it throws
/// <see cref="CacheException"/> on truncated input. Disposing does not complete.
/// </summary>
public sealed class DecompressingWriteStream : Stream, IDecompressedSink
{
    private readonly IDecompressor _decompressor;
    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private bool _completed;
    private bool _disposed;

    public DecompressingWriteStream(Stream destination, NarCompression compression, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(destination);
        _destination = destination;
        _leaveOpen = leaveOpen;
        _decompressor = Decompressors.Create(compression);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_disposed;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _decompressor.Decompress(buffer, this);
    }

    /// <summary>Ends the compressed input; throws when it was truncated or corrupt.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_completed)
        {
            _completed = true;
            _decompressor.Finish(this);
            _destination.Flush();
        }
    }

    void IDecompressedSink.Write(ReadOnlySpan<byte> data) => _destination.Write(data);

    public override void Flush() => _destination.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _decompressor.Dispose();
            if (!_leaveOpen)
            {
                _destination.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
