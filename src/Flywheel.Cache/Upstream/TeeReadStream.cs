using System.IO.Pipelines;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// Reads from a source and hands every chunk read to a pipe as well (the client of a NAR being fetched). When the pipe's
/// reader goes away (the client disconnected), the chunks stop going there and reading carries on: the download is not
/// the client's to cancel. A slow reader slows the source down (the pipe's back-pressure), memory stays bounded.
/// </summary>
internal sealed class TeeReadStream : Stream
{
    private readonly Stream _source;
    private readonly PipeWriter _copy;
    private bool _attached = true;

    public TeeReadStream(Stream source, PipeWriter copy)
    {
        _source = source;
        _copy = copy;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0 && _attached)
        {
            var flushed = await _copy.WriteAsync(buffer[..read], cancellationToken).ConfigureAwait(false);
            _attached = !flushed.IsCompleted;
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
