using System.IO.Pipelines;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// One NAR being fetched from an upstream into the store. Its first client reads the bytes as they arrive through a
/// pipe (<see cref="OpenLive"/>); clients that come while it runs wait for <see cref="Completion"/> and read the stored
/// blob. The fetch runs to its end whatever the clients do, and nothing is visible before it was verified.
/// </summary>
internal sealed class UpstreamNarDownload
{
    private readonly Pipe _pipe = new(new PipeOptions(
        pauseWriterThreshold: 4 * 1024 * 1024, resumeWriterThreshold: 2 * 1024 * 1024, useSynchronizationContext: false));

    private readonly TaskCompletionSource<NarFileRecord> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<NarFileRecord> Completion => _done.Task;

    /// <summary>Where the fetch copies the bytes for the first client.</summary>
    public PipeWriter Copy => _pipe.Writer;

    public void Succeed(NarFileRecord nar)
    {
        _pipe.Writer.Complete();
        _done.TrySetResult(nar);
    }

    public void Fail(Exception error)
    {
        _pipe.Writer.Complete(error);
        _done.TrySetException(error);
    }

    /// <summary>The first client's view: a handle whose one stream follows the download.</summary>
    public BlobHandle OpenLive(BlobDigest fileHash, long fileSize) => new LiveHandle(_pipe.Reader, fileHash, fileSize);

    /// <summary>
    /// A blob still arriving. Disposable: a handle whose stream is never opened (a HEAD, an unsatisfiable range)
    /// must let go of the pipe, or the download would wait for a reader forever.
    /// </summary>
    private sealed class LiveHandle(PipeReader reader, BlobDigest digest, long length) : BlobHandle(digest, length), IDisposable
    {
        private int _taken;

        public override Task<Stream> OpenReadAsync(long offset, long count, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _taken, 1) != 0)
            {
                throw new InvalidOperationException("a NAR being fetched from upstream can be read once");
            }

            return Task.FromResult<Stream>(new LiveNarStream(reader, offset, count));
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _taken, 1) == 0)
            {
                reader.Complete();
            }
        }
    }
}
