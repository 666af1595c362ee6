using System.Diagnostics;
using System.Globalization;

namespace Flywheel.Cache.Builds;

/// <summary>
/// The fallback when no cgroup can be made: every <see cref="Interval"/> the resident memory (VmRSS) of the watched
/// process and all its descendants is summed from <c>/proc</c>; the peak is the highest sum, and a sum over the
/// limit kills the whole tree (recorded as an out-of-memory kill). Coarser than a cgroup: a spike shorter than the
/// interval is missed, and shared pages are counted once per process.
/// </summary>
public sealed class SampledEnvelope : IMemoryEnvelope
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private readonly List<Timer> _timers = [];
    private long _peak;
    private int _killed;

    public SampledEnvelope(long limitBytes, string reason)
    {
        LimitBytes = limitBytes;
        Method = "none: " + reason;
    }

    public string Method { get; }

    public long LimitBytes { get; }

    public ProcessCommand Wrap(ProcessCommand command) => command;

    public void Watch(int processId)
    {
        var pid = processId;
        Timer? timer = null;
        timer = new Timer(_ =>
        {
            var rss = TreeResidentBytes(pid);
            if (rss == 0)
            {
                timer?.Dispose(); // the process is gone
                return;
            }

            InterlockedMax(ref _peak, rss);
            if (rss > LimitBytes && Interlocked.Exchange(ref _killed, 1) == 0)
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException)
                {
                    // it exited between the sample and the kill
                }
            }
        }, null, TimeSpan.Zero, Interval);
        lock (_gate)
        {
            _timers.Add(timer);
        }
    }

    public long? PeakBytes => Interlocked.Read(ref _peak) is var peak && peak > 0 ? peak : null;

    public bool OutOfMemoryKilled => Volatile.Read(ref _killed) == 1;

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var timer in _timers)
            {
                timer.Dispose();
            }

            _timers.Clear();
        }
    }

    /// <summary>The summed VmRSS of <paramref name="root"/> and its descendants, 0 when it is gone.</summary>
    public static long TreeResidentBytes(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ParentOf(pid) is { } parent)
            {
                (children.TryGetValue(parent, out var list) ? list : children[parent] = []).Add(pid);
            }
        }

        long total = 0;
        var pending = new Stack<int>();
        pending.Push(root);
        while (pending.TryPop(out var pid))
        {
            total += ResidentBytes(pid);
            if (children.TryGetValue(pid, out var list))
            {
                list.ForEach(pending.Push);
            }
        }

        return total;
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses, so parse after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null; // exited while we looked
        }
    }

    private static long ResidentBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kib = line.AsSpan(6).Trim().TrimEnd("kB").Trim();
                    return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            return 0; // exited while we looked
        }

        return 0; // a zombie or kernel thread has no VmRSS
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
