using System.Diagnostics;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// A decorator that counts and times every call into the blob store (the store itself knows nothing of metrics).
/// Writes are counted once per blob (begin and commit), not per chunk.
/// </summary>
public sealed class MeteredBlobStore : IBlobStore, IAsyncDisposable
{
    private readonly IBlobStore _inner;
    private readonly FlywheelMetrics _metrics;

    public MeteredBlobStore(IBlobStore inner, FlywheelMetrics metrics)
    {
        _inner = inner;
        _metrics = metrics;
    }

    /// <summary>The store measured (the host runs a disk store's check after an unclean stop on it).</summary>
    public IBlobStore Inner => _inner;

    /// <summary>Closes the store measured (a disk store's final fsync round and clean-stop marker).</summary>
    public ValueTask DisposeAsync() => _inner is IAsyncDisposable disposable ? disposable.DisposeAsync() : ValueTask.CompletedTask;

    public async ValueTask<IBlobWriter> BeginWriteAsync(BlobDigest? expected, CancellationToken cancellationToken)
    {
        var writer = await MeasureAsync(BlobStoreOperation.Write, () => _inner.BeginWriteAsync(expected, cancellationToken).AsTask());
        return new MeteredWriter(writer, _metrics);
    }

    public Task<BlobHandle?> OpenAsync(BlobDigest digest, CancellationToken cancellationToken) =>
        MeasureAsync(BlobStoreOperation.Open, () => _inner.OpenAsync(digest, cancellationToken));

    public Task<BlobHandle?> OpenKnownAsync(BlobDigest digest, long length, CancellationToken cancellationToken) =>
        MeasureAsync(BlobStoreOperation.Open, () => _inner.OpenKnownAsync(digest, length, cancellationToken));

    public Task<IReadOnlyList<BlobDigest>> FindMissingAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken) =>
        MeasureAsync(BlobStoreOperation.FindMissing, () => _inner.FindMissingAsync(digests, cancellationToken));

    public Task<bool> DeleteAsync(BlobDigest digest, CancellationToken cancellationToken) =>
        MeasureAsync(BlobStoreOperation.Delete, () => _inner.DeleteAsync(digest, cancellationToken));

    public IAsyncEnumerable<StoredBlob> ListAsync(CancellationToken cancellationToken) => _inner.ListAsync(cancellationToken);

    public Task CheckHealthAsync(CancellationToken cancellationToken) => _inner.CheckHealthAsync(cancellationToken);

    public Task<int> SweepIncompleteWritesAsync(TimeSpan olderThan, CancellationToken cancellationToken) =>
        _inner.SweepIncompleteWritesAsync(olderThan, cancellationToken);

    private async Task<T> MeasureAsync<T>(BlobStoreOperation operation, Func<Task<T>> call)
    {
        var start = Stopwatch.GetTimestamp();
        var succeeded = false;
        try
        {
            var result = await call();
            succeeded = true;
            return result;
        }
        finally
        {
            _metrics.RecordBlobStoreOperation(operation, succeeded, start);
        }
    }

    private sealed class MeteredWriter(IBlobWriter inner, FlywheelMetrics metrics) : IBlobWriter
    {
        public long Length => inner.Length;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.WriteAsync(data, cancellationToken);

        public async Task<BlobCommit> CommitAsync(BlobDigest? expected, CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var succeeded = false;
            try
            {
                var commit = await inner.CommitAsync(expected, cancellationToken);
                succeeded = true;
                return commit;
            }
            finally
            {
                metrics.RecordBlobStoreOperation(BlobStoreOperation.Commit, succeeded, start);
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
