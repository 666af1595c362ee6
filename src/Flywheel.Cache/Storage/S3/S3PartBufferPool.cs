namespace Flywheel.Cache.Storage.S3;

/// <summary>
/// The part buffers of one <see cref="S3BlobStore"/>'s multipart writes: at most <c>count</c> buffers of one part
/// each exist at once, so part buffering never holds more than <c>count × part size</c> bytes whatever the number
/// and size of uploads (64 MiB at the defaults); a writer that needs one while all are taken waits for a write to
/// finish. Buffers are made on first need and kept for the next write (no per-part allocation, no large-object-heap
/// churn). Not <see cref="System.Buffers.ArrayPool{T}.Shared"/>: it keeps a returned array per size and thread (and
/// per core) until a gen-2 collection trims it, so a few large uploads on different threads pinned hundreds of MiB.
/// A writer holds at most one buffer and returns it when it commits or is disposed, so waiting cannot deadlock.
/// </summary>
internal sealed class S3PartBufferPool
{
    private readonly int _partSize;
    private readonly SemaphoreSlim _available; // no wait handle is ever made: nothing to dispose
    private readonly Stack<byte[]> _idle = new();

    public S3PartBufferPool(int partSize, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(partSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        _partSize = partSize;
        _available = new SemaphoreSlim(count, count);
    }

    /// <summary>A buffer of exactly one part; waits while all are in use.</summary>
    public async ValueTask<byte[]> RentAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_idle)
        {
            if (_idle.TryPop(out var buffer))
            {
                return buffer;
            }
        }

        // Every byte is written before it is read: no need to clear 16 MiB.
        return GC.AllocateUninitializedArray<byte>(_partSize);
    }

    public void Return(byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.Length != _partSize)
        {
            throw new ArgumentException($"not a part buffer of this pool ({buffer.Length} bytes, parts are {_partSize})", nameof(buffer));
        }

        lock (_idle)
        {
            _idle.Push(buffer);
        }

        _available.Release();
    }
}
