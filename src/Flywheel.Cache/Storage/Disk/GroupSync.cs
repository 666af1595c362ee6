using System.Runtime.InteropServices;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// Makes published blobs durable in the background, in rounds shared by every blob published since the last one
/// (group commit): a blob is acknowledged once it is written, verified and linked into place (that survives
/// <c>kill -9</c>: the page cache belongs to the kernel), and a round runs every <see cref="DiskSyncOptions.Interval"/>
/// while blobs are waiting, or at once when <see cref="DiskSyncOptions.MaxPendingBytes"/> are. A round fsyncs each
/// file (its writeback was started at commit), then each of their directories once, then moves the
/// <see cref="DurableHorizon"/> to the time it started. No thread runs while nothing is waiting.
/// </summary>
/// <remarks>
/// Order per blob: bytes written and hashed, name linked (atomic, never over an existing blob), the caller's index
/// commit, then the round's fsyncs and the horizon. A machine crash can therefore leave index rows that name a blob
/// linked after the horizon whose bytes did not reach the disk; <see cref="DiskRecovery"/> finds and drops them before
/// the next start serves anything. A round that fails to sync leaves the horizon where it was for the rest of the
/// process (a crash after it checks everything since).
/// </remarks>
internal sealed partial class GroupSync(string root, DiskSyncOptions options, TimeProvider time, DurableHorizon horizon)
{
    private readonly object _gate = new();
    private readonly SemaphoreSlim _wake = new(0);
    private List<string> _pending = [];
    private long _pendingBytes;
    private bool _running;
    private bool _flushRequested;
    private bool _failed;
    private TaskCompletionSource _nextRound = NewRound();
    private long _rounds;
    private long _published;

    /// <summary>Rounds run so far: how many fsync rounds the published blobs shared.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>Blobs made durable so far.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>True once a round failed to sync: the horizon stays where it was.</summary>
    public bool Failed => Volatile.Read(ref _failed);

    /// <summary>
    /// Raised on the sync loop after a round failed, with the round's first error and how many blobs it held. Nobody
    /// may be waiting on a background round, so this is how a failure reaches the log and the metrics.
    /// </summary>
    public event Action<Exception, int>? RoundFailed;

    /// <summary>Queues a blob just linked as <paramref name="finalPath"/> for the next round.</summary>
    public void Enqueue(string finalPath, long size)
    {
        bool start, wake;
        lock (_gate)
        {
            _pending.Add(finalPath);
            _pendingBytes += size;
            start = !_running;
            _running = true;
            wake = _pendingBytes >= options.MaxPendingBytes;
        }

        if (start)
        {
            _ = Task.Run(RunAsync);
        }

        if (wake)
        {
            _wake.Release();
        }
    }

    /// <summary>Completes once every blob queued before the call is durable (a round runs now rather than at its time).</summary>
    public Task FlushAsync()
    {
        Task done;
        bool start;
        lock (_gate)
        {
            if (_pending.Count == 0 && !_running)
            {
                return Task.CompletedTask;
            }

            done = _nextRound.Task;
            _flushRequested = true;
            start = !_running;
            _running = true;
        }

        if (start)
        {
            _ = Task.Run(RunAsync);
        }

        _wake.Release();
        return done;
    }

    private async Task RunAsync()
    {
        while (true)
        {
            await _wake.WaitAsync(options.Interval).ConfigureAwait(false);
            List<string> batch;
            TaskCompletionSource done;
            DateTimeOffset started;
            lock (_gate)
            {
                while (_wake.CurrentCount > 0)
                {
                    _wake.Wait(0);
                }

                if (_pending.Count == 0 && !_flushRequested)
                {
                    _running = false;
                    return;
                }

                // Read under the lock: a blob whose commit returned before this time was queued before it, so it is
                // in this batch or an earlier one (its index rows are stamped after its commit).
                started = time.GetUtcNow();
                batch = _pending;
                _pending = [];
                _pendingBytes = 0;
                _flushRequested = false;
                done = _nextRound;
                _nextRound = NewRound();
            }

            Exception? error;
            try
            {
                error = Round(batch, started);
            }
            catch (Exception e)
            {
                Volatile.Write(ref _failed, true); // e.g. the horizon's file refused: it stays where it was
                error = e;
            }

            if (error is null)
            {
                done.TrySetResult();
            }
            else
            {
                RoundFailed?.Invoke(error, batch.Count);
                done.TrySetException(error);
            }
        }
    }

    /// <summary>One round; the first error, which the waiters of the round get (and after which the horizon stays put).</summary>
    private Exception? Round(List<string> batch, DateTimeOffset started)
    {
        Interlocked.Increment(ref _rounds);
        Exception? error = null;
        var directories = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in batch)
        {
            try
            {
                if (SyncPath(path, missingOk: true))
                {
                    directories.Add(Path.GetDirectoryName(path)!);
                }
            }
            catch (IOException e)
            {
                error ??= e;
            }
        }

        foreach (var directory in directories)
        {
            try
            {
                SyncPath(directory, missingOk: true);
            }
            catch (IOException e)
            {
                error ??= e;
            }
        }

        if (error is null && !_failed)
        {
            horizon.Advance(started);
        }

        if (error is not null)
        {
            Volatile.Write(ref _failed, true);
            return error;
        }

        Interlocked.Add(ref _published, batch.Count);
        return null;
    }

    private static TaskCompletionSource NewRound() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>fsync(2) of a directory: its entries (a new blob's name, a new shard) reach the disk.</summary>
    internal static void SyncDirectory(string directory) => SyncPath(directory, missingOk: false);

    /// <summary>
    /// fsync(2) of a file or directory opened read-only by name (Linux flushes the inode's data whichever way it was
    /// opened); false when it is gone and <paramref name="missingOk"/> (deleted since it was queued).
    /// </summary>
    private static bool SyncPath(string path, bool missingOk)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return true; // Windows: no fsync by name here; the horizon then promises what the OS's own writeback does
        }

        var fd = open(path, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (missingOk && errno == 2 /* ENOENT */)
            {
                return false;
            }

            throw new IOException($"cannot open {path} to fsync it (errno {errno})");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync of {path} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = close(fd);
        }

        return true;
    }

    /// <summary>The root, fsynced when a shard directory was created under it.</summary>
    internal void SyncRoot() => SyncDirectory(root);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}
