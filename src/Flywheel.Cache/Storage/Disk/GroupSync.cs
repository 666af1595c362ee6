using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// Group commit for blob publishing: every new blob must be durable (data, then its name) before the index may name
/// it, and one fsync per upload serialised uploads behind the disk (~10-20 ms each on a VM). Writers that commit at
/// about the same time share one round instead: start writeback of every file of the round, fsync each (the first
/// commits the file system's journal for all of them, the rest mostly find their blocks on disk already), link each
/// into place, then fsync each shard directory once. A writer that arrives during a round joins the next one; the
/// round runs on the thread of the writer that found no round running (no thread of its own, nothing to stop).
/// </summary>
/// <remarks>
/// Order per blob, the one the durability model rests on: bytes written and hashed, data fsynced, name linked (atomic,
/// never over an existing blob), directory fsynced, then the caller's index commit. A machine crash before the
/// directory fsync leaves at most a temporary file or an unnamed blob; it never leaves a name for bytes that are not
/// on disk. A blob found at its final name while its own round is still running is waited for (<see cref="WhenDurableAsync"/>).
/// </remarks>
internal sealed partial class GroupSync(string root)
{
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<string, Task<bool>> _inFlight = new(StringComparer.Ordinal);
    private List<Request> _pending = [];
    private bool _running;
    private long _rounds;
    private long _published;

    /// <summary>Rounds run so far: how many fsync rounds the published blobs shared.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>Blobs made durable so far.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>
    /// Makes <paramref name="file"/> durable, then runs <paramref name="publish"/> (which links it as
    /// <paramref name="finalPath"/>; false when a blob was there already) and makes the name durable; completes with
    /// what publish returned once all of that is on disk.
    /// </summary>
    public Task<bool> PublishAsync(SafeFileHandle file, string finalPath, Func<bool> publish)
    {
        var request = new Request(file, finalPath, publish);
        _inFlight[finalPath] = request.Completion.Task;
        bool lead;
        lock (_gate)
        {
            _pending.Add(request);
            lead = !_running;
            _running = true;
        }

        if (lead)
        {
            _ = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
        }

        return request.Completion.Task;
    }

    /// <summary>Waits until a blob that another writer is publishing right now is durable (at once when none is).</summary>
    public Task WhenDurableAsync(string finalPath) => _inFlight.TryGetValue(finalPath, out var task) ? task : Task.CompletedTask;

    private void Run()
    {
        while (true)
        {
            List<Request> batch;
            lock (_gate)
            {
                if (_pending.Count == 0)
                {
                    _running = false;
                    return;
                }

                batch = _pending;
                _pending = [];
            }

            Flush(batch);
        }
    }

    private void Flush(List<Request> batch)
    {
        Interlocked.Increment(ref _rounds);
        foreach (var r in batch)
        {
            WriteBehind.Start(r.File, 0, 0); // the whole file: writeback of all of them starts before the first fsync waits
        }

        foreach (var r in batch)
        {
            Try(r, static r =>
            {
                RandomAccess.FlushToDisk(r.File);
                r.Existed = !r.Publish();
            });
        }

        var directories = new Dictionary<string, Exception?>(StringComparer.Ordinal);
        foreach (var r in batch)
        {
            if (r.Error is null && !r.Existed)
            {
                directories.TryAdd(Path.GetDirectoryName(r.FinalPath)!, null);
            }
        }

        foreach (var directory in directories.Keys.ToList())
        {
            try
            {
                SyncDirectory(directory);
            }
            catch (IOException e)
            {
                directories[directory] = e;
            }
        }

        foreach (var r in batch)
        {
            var error = r.Error ?? (r.Existed ? null : directories[Path.GetDirectoryName(r.FinalPath)!]);
            _inFlight.TryRemove(new KeyValuePair<string, Task<bool>>(r.FinalPath, r.Completion.Task));
            if (error is null)
            {
                Interlocked.Increment(ref _published);
                r.Completion.TrySetResult(!r.Existed);
            }
            else
            {
                r.Completion.TrySetException(error);
            }
        }
    }

    private static void Try(Request r, Action<Request> step)
    {
        try
        {
            step(r);
        }
        catch (Exception e)
        {
            r.Error = e; // the request's writer gets it: its commit fails with this error
        }
    }

    /// <summary>fsync(2) of a directory: its entries (a new blob's name, a new shard) reach the disk.</summary>
    internal static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return; // Windows: NTFS journals names with the file; there is no directory handle to flush
        }

        var fd = open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

    /// <summary>The root, fsynced when a shard directory was created under it.</summary>
    internal void SyncRoot() => SyncDirectory(root);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);

    private sealed class Request(SafeFileHandle file, string finalPath, Func<bool> publish)
    {
        public SafeFileHandle File { get; } = file;

        public string FinalPath { get; } = finalPath;

        public Func<bool> Publish { get; } = publish;

        public bool Existed { get; set; }

        public Exception? Error { get; set; }

        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
