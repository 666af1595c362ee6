using System.IO.Pipelines;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// Reads from a source and hands every chunk read to a pipe as well (the client of a NAR being fetched). When the pipe's
/// reader goes away (the client disconnected), the chunks stop going there and reading carries on: the download is not
/// the client's to cancel. A slow reader slows the source down (the pipe's back-pressure), memory stays bounded.
/// </summary>
internal sealed class TeeReadStream : ReadOnlyStream
{
    private readonly Stream _source;
    private readonly PipeWriter _copy;
    private bool _attached = true;

    public TeeReadStream(Stream source, PipeWriter copy)
    {
        _source = source;
        _copy = copy;
    }

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
}
