using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// A NAR body from an upstream, read-only: each read must bring bytes within the upstream's timeout (a stalled
/// download fails instead of hanging), and a broken connection becomes <see cref="UpstreamUnavailableException"/>.
/// </summary>
internal sealed class UpstreamBodyStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly Upstream _upstream;
    private readonly CancellationTokenSource _stall;
    private readonly CancellationToken _outer;

    public UpstreamBodyStream(Stream inner, Upstream upstream, CancellationToken cancellationToken)
    {
        _inner = inner;
        _upstream = upstream;
        _outer = cancellationToken;
        _stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _stall.CancelAfter(_upstream.Timeout);
        try
        {
            using var both = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(_stall.Token, cancellationToken) : null;
            return await _inner.ReadAsync(buffer, both?.Token ?? _stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stall.IsCancellationRequested && !_outer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamUnavailableException($"upstream {_upstream.Url} stopped sending a NAR for {_upstream.Timeout.TotalSeconds:0.###}s");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new UpstreamUnavailableException($"upstream {_upstream.Url}: a NAR download broke off: {e.Message}", e);
        }
        finally
        {
            _stall.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stall.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
