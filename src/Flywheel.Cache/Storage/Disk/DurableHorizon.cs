using System.Globalization;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// How far a disk store is known to be durable, kept in <c>&lt;root&gt;/.durable</c> as one fixed-length line
/// <c>&lt;unix ms&gt; running|clean &lt;checksum&gt;</c>: every blob published before that time is fsynced with its
/// name, and <c>clean</c> says the store was closed after a final round (nothing published since). Each update
/// overwrites the line in place and fsyncs the file (one fsync, no new file or name: a torn write fails its checksum
/// and reads as an unclean stop of unknown horizon, which checks everything). One process at a time owns it (an exclusive lock on
/// <c>.durable.lock</c>, held while the store is open); a store that cannot take the lock (<c>flywheel gc</c> next to
/// a running daemon) leaves the file alone and syncs its own writes before it acknowledges them.
/// </summary>
/// <remarks>
/// When the previous owner stopped without the clean marker (killed, or the machine crashed), blobs linked after its
/// horizon may be missing or partial on disk: <see cref="UncheckedSince"/> says from when (with
/// <see cref="ClockMargin"/>), until <see cref="DiskRecovery"/> has checked what the index names and called
/// <see cref="MarkChecked"/>. Until then the horizon does not move, so a crash during recovery checks again.
/// </remarks>
internal sealed class DurableHorizon : IDisposable
{
    internal const string FileName = ".durable";
    internal const string LockFileName = ".durable.lock";

    /// <summary>Added before the horizon when checking: clock steps, and index rows stamped by another component's clock read.</summary>
    public static readonly TimeSpan ClockMargin = TimeSpan.FromSeconds(5);

    private const int RecordLength = 34; // 15 digits, space, 7-letter state, space, 8 hex digits, newline, padding
    private readonly string _path;
    private readonly object _gate = new();
    private FileStream? _lock;
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _file;

    private DurableHorizon(string root, FileStream? owned)
    {
        _path = Path.Combine(root, FileName);
        _lock = owned;
    }

    /// <summary>True when this process owns the horizon (and may defer syncs past the acknowledgement).</summary>
    public bool Owner => _lock is not null;

    /// <summary>Set after an unclean stop until the check is done: blobs linked since then may be missing or partial.</summary>
    public DateTimeOffset? UncheckedSince { get; private set; }

    /// <summary>Set for the life of the process after an unclean stop: a blob file found at its name and changed since then is verified before it is trusted.</summary>
    public DateTimeOffset? SuspectSince { get; private set; }

    /// <summary>The horizon last written (or read at start).</summary>
    public DateTimeOffset Horizon { get; private set; }

    /// <summary>Takes the lock if it is free, reads the previous state and records this process as running.</summary>
    public static DurableHorizon Open(string root, DateTimeOffset now)
    {
        FileStream? owned;
        try
        {
            // FileShare.None is an exclusive flock(2) on Unix: released by the kernel when the process dies.
            owned = new FileStream(Path.Combine(root, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            owned = null;
        }

        var horizon = new DurableHorizon(root, owned);
        if (owned is not null)
        {
            horizon.Start(now);
        }

        return horizon;
    }

    private void Start(DateTimeOffset now)
    {
        var (previous, clean) = Read(_path);
        if (clean)
        {
            Horizon = now; // nothing is pending: everything before now is on disk
        }
        else
        {
            Horizon = previous;
            UncheckedSince = previous - ClockMargin;
            SuspectSince = UncheckedSince;
        }

        var created = !File.Exists(_path);
        _file = File.OpenHandle(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        Write(Horizon, clean: false);
        if (created)
        {
            GroupSync.SyncDirectory(Path.GetDirectoryName(_path)!); // the file's name, once
        }
    }

    /// <summary>The check after an unclean stop is done: the next round may move the horizon again.</summary>
    public void MarkChecked() => UncheckedSince = null;

    /// <summary>Records that everything published before <paramref name="time"/> is durable (not while a check is pending).</summary>
    public void Advance(DateTimeOffset time)
    {
        if (Owner && UncheckedSince is null && time > Horizon)
        {
            Write(time, clean: false);
        }
    }

    /// <summary>
    /// After the final round: the horizon is <paramref name="now"/> and the stop is clean. Releases the lock. When the
    /// marker cannot be written (a failing disk), the file keeps saying running, so the next start checks, as after a crash.
    /// </summary>
    public void Close(DateTimeOffset now, bool synced)
    {
        try
        {
            if (Owner && synced && UncheckedSince is null)
            {
                Write(now, clean: true);
            }
        }
        catch (IOException)
        {
            // not clean: what the file says already
        }
        finally
        {
            Dispose();
        }
    }

    /// <summary>Releases the lock without writing anything: as a process that was killed would (tests simulate crashes with it).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
            _file = null;
            _lock?.Dispose();
            _lock = null;
        }
    }

    /// <summary>
    /// The state in the file: a missing file is a clean stop (a new store, or one written before deferred syncs, when
    /// every blob was fsynced before its acknowledgement); an unreadable one is an unclean stop of unknown horizon.
    /// </summary>
    internal static (DateTimeOffset Horizon, bool Clean) Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return (DateTimeOffset.MinValue, true);
        }

        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 3 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) &&
            parts[1] is "clean" or "running" && parts[2] == Checksum(parts[0] + " " + parts[1]))
        {
            return (DateTimeOffset.FromUnixTimeMilliseconds(ms), parts[1] == "clean");
        }

        return (DateTimeOffset.MinValue + ClockMargin, false);
    }

    private void Write(DateTimeOffset horizon, bool clean)
    {
        lock (_gate)
        {
            if (_file is null)
            {
                return;
            }

            var head = string.Create(CultureInfo.InvariantCulture, $"{horizon.ToUnixTimeMilliseconds():D15} {(clean ? "clean  " : "running")}");
            var line = $"{head} {Checksum(head.TrimEnd())}\n".PadRight(RecordLength - 1) + "\n";
            RandomAccess.Write(_file, System.Text.Encoding.ASCII.GetBytes(line), 0);
            RandomAccess.FlushToDisk(_file);
            Horizon = horizon;
        }
    }

    /// <summary>FNV-1a of the record's text, as 8 hex digits: enough to tell a torn write from a whole one.</summary>
    private static string Checksum(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash.ToString("x8", CultureInfo.InvariantCulture);
    }
}
