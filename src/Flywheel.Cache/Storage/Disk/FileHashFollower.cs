using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// Hashes a file while it is being written, on a task of its own that reads back from the page cache what the
/// writer has already written (<see cref="Advance"/>). The writer's thread then only receives and writes; SHA-256
/// (about 1.7 GB/s with SHA-NI, so 39 ms for 64 MiB) runs on another core at the same time, and at commit the
/// fsync overlaps the hash's tail. The read-back is a page-cache copy, far cheaper than the hash.
/// </summary>
/// <remarks>
/// The follower owns <paramref name="hash"/> from construction on; nobody else may touch it until
/// <see cref="CompleteAsync"/> or <see cref="AbandonAsync"/> has finished. Wake-ups go through a semaphore that is
/// released at most once ahead of the follower, so a writer appending in small steps does not queue thousands.
/// </remarks>
internal sealed class FileHashFollower(SafeFileHandle file, IncrementalHash hash, long from)
{
    private const int ReadSize = 256 * 1024;

    private readonly SemaphoreSlim _signal = new(0);
    private long _written = from;
    private long _hashed = from;
    private int _complete; // 1: no more writes; 2: abandoned
    private Task? _task;

    public void Start() => _task = Task.Run(RunAsync);

    /// <summary>The file now holds bytes up to <paramref name="written"/>.</summary>
    public void Advance(long written)
    {
        Volatile.Write(ref _written, written);
        Wake();
    }

    /// <summary>No more writes: waits until everything up to <paramref name="length"/> is hashed.</summary>
    public Task CompleteAsync(long length)
    {
        Volatile.Write(ref _written, length);
        Volatile.Write(ref _complete, 1);
        Wake();
        return _task ?? Task.CompletedTask;
    }

    /// <summary>
    /// Stops early; returns when the follower no longer reads the file. The upload is being thrown away, so a
    /// read error of the follower's does not matter any more: a commit that awaited it has already reported it.
    /// </summary>
    public async Task AbandonAsync()
    {
        Volatile.Write(ref _complete, 2);
        Wake();
        if (_task is { } task)
        {
            await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private void Wake()
    {
        if (_signal.CurrentCount == 0)
        {
            _signal.Release();
        }
    }

    private async Task RunAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
        try
        {
            while (true)
            {
                var complete = Volatile.Read(ref _complete);
                if (complete == 2)
                {
                    return;
                }

                // _written is published before _complete, so once complete is seen this read is the final length.
                var target = Volatile.Read(ref _written);
                if (_hashed < target)
                {
                    var read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(ReadSize, target - _hashed)), _hashed);
                    if (read <= 0)
                    {
                        throw new IOException($"the file being hashed ended at {_hashed} bytes, {target} were written");
                    }

                    hash.AppendData(buffer, 0, read);
                    _hashed += read;
                    continue;
                }

                if (complete == 1)
                {
                    return;
                }

                await _signal.WaitAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
