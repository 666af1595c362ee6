using System.Globalization;

namespace Flywheel.Cache.Builds;

/// <summary>
/// A child cgroup of this process's own cgroup, with a memory limit (v2 <c>memory.max</c>, or v1
/// <c>memory.limit_in_bytes</c>). Processes enter it before they run: the command becomes
/// <c>/bin/sh -c 'echo $$ &gt; "$0/cgroup.procs" &amp;&amp; exec "$@"' DIR PROGRAM ARGS…</c>, a constant script with
/// everything else as separate arguments. Peak: v2 <c>memory.peak</c>, v1 <c>memory.max_usage_in_bytes</c>;
/// OOM kills: the <c>oom_kill</c> counter of v2 <c>memory.events</c> or v1 <c>memory.oom_control</c>.
/// </summary>
public sealed class CgroupEnvelope : IMemoryEnvelope
{
    /// <summary>Every group this class makes is named this plus 12 hex digits; leftovers are recognised by it.</summary>
    public const string NamePrefix = "flywheel-build-";

    private const string EnterScript = "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"";

    private readonly string _directory;
    private readonly bool _v2;

    private CgroupEnvelope(string directory, bool v2, long limitBytes)
    {
        _directory = directory;
        _v2 = v2;
        LimitBytes = limitBytes;
    }

    public string Method => _v2 ? "cgroup-v2" : "cgroup-v1";

    /// <summary>The group's folder in the cgroup file system.</summary>
    public string GroupDirectory => _directory;

    public bool IsV2 => _v2;

    public long LimitBytes { get; }

    /// <summary>Creates the group under <paramref name="parent"/> and sets the limit; throws IOException/UnauthorizedAccessException when it cannot.</summary>
    public static CgroupEnvelope Create(string parent, bool v2, long limitBytes)
    {
        var directory = Path.Combine(parent, NamePrefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        try
        {
            var limit = limitBytes.ToString(CultureInfo.InvariantCulture);
            if (v2)
            {
                File.WriteAllText(Path.Combine(directory, "memory.max"), limit);
                TryWrite(Path.Combine(directory, "memory.swap.max"), "0");
            }
            else
            {
                File.WriteAllText(Path.Combine(directory, "memory.limit_in_bytes"), limit);
                TryWrite(Path.Combine(directory, "memory.memsw.limit_in_bytes"), limit); // no escape into swap, where the kernel allows it
            }

            return new CgroupEnvelope(directory, v2, limitBytes);
        }
        catch
        {
            TryRemove(directory);
            throw;
        }
    }

    /// <summary>Whether <paramref name="name"/> is one this class makes (<see cref="NamePrefix"/> and 12 hex digits).</summary>
    public static bool IsOurs(string name) =>
        name.Length == NamePrefix.Length + 12 && name.StartsWith(NamePrefix, StringComparison.Ordinal) && name[NamePrefix.Length..].All(char.IsAsciiHexDigitLower);

    /// <summary>
    /// How old an empty group must be before it counts as left over: another worker on the same parent creates its
    /// group a moment before its build process enters it, and that empty group is not a leftover.
    /// </summary>
    public static readonly TimeSpan LeftoverMinimumAge = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Removes the groups named like ours under <paramref name="parent"/> that hold no process and were made more than
    /// <paramref name="minimumAge"/> ago (default <see cref="LeftoverMinimumAge"/>): leftovers of a worker that died
    /// before removing them. Groups with processes (another worker's running builds) and younger groups (about to get
    /// their process) are left alone and returned as busy.
    /// </summary>
    public static (IReadOnlyList<string> Removed, IReadOnlyList<string> Busy) RemoveLeftovers(string parent, TimeSpan? minimumAge = null)
    {
        var madeBefore = DateTime.UtcNow - (minimumAge ?? LeftoverMinimumAge);
        var removed = new List<string>();
        var busy = new List<string>();
        if (!Directory.Exists(parent))
        {
            return (removed, busy);
        }

        foreach (var directory in Directory.EnumerateDirectories(parent).Where(d => IsOurs(Path.GetFileName(d))))
        {
            var procs = Path.Combine(directory, "cgroup.procs");
            try
            {
                if (Directory.GetLastWriteTimeUtc(directory) > madeBefore || (File.Exists(procs) && File.ReadAllText(procs).Trim().Length > 0))
                {
                    busy.Add(directory);
                    continue;
                }

                Directory.Delete(directory); // rmdir: a cgroup without processes goes, its control files with it
                removed.Add(directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                busy.Add(directory); // in use, or another worker removed it first
            }
        }

        return (removed, busy);
    }

    public ProcessCommand Wrap(ProcessCommand command) => command with
    {
        FileName = "/bin/sh",
        Arguments = ["-c", EnterScript, _directory, command.FileName, .. command.Arguments],
    };

    public void Watch(int processId)
    {
    }

    public long? PeakBytes => ReadLong(_v2 ? "memory.peak" : "memory.max_usage_in_bytes");

    public bool OutOfMemoryKilled => ReadCounter(_v2 ? "memory.events" : "memory.oom_control", "oom_kill") > 0;

    public void Dispose() => TryRemove(_directory);

    private long? ReadLong(string file)
    {
        try
        {
            return long.TryParse(File.ReadAllText(Path.Combine(_directory, file)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                ? value : null;
        }
        catch (IOException)
        {
            return null; // the group is gone or the kernel lacks the file (memory.peak needs Linux 5.19)
        }
    }

    private long ReadCounter(string file, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(_directory, file)))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == key && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                {
                    return value;
                }
            }
        }
        catch (IOException)
        {
            return 0; // the group is gone (removed after the build): nothing more was counted
        }

        return 0;
    }

    private static void TryWrite(string file, string value)
    {
        if (File.Exists(file))
        {
            File.WriteAllText(file, value);
        }
    }

    /// <summary>A cgroup can be removed once its processes are gone; they may take a moment to be reaped.</summary>
    private static void TryRemove(string directory)
    {
        for (var i = 0; i < 20; i++)
        {
            try
            {
                Directory.Delete(directory);
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (IOException)
            {
                Thread.Sleep(50);
            }
        }
    }
}
