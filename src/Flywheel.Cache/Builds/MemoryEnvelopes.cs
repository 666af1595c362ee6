namespace Flywheel.Cache.Builds;

/// <summary>
/// Makes the envelope of a build attempt: a cgroup v2 child of this process's cgroup when the unified hierarchy is
/// mounted at <c>/sys/fs/cgroup</c> and writable with the memory controller on; else a cgroup v1 child under the memory
/// controller's mount; else sampling, with the reasons each cgroup could not be made.
/// </summary>
public static class MemoryEnvelopes
{
    public static IMemoryEnvelope Create(long limitBytes, string cgroupRoot = "/sys/fs/cgroup", string selfCgroupFile = "/proc/self/cgroup")
    {
        var reasons = new List<string>();
        string[] lines;
        try
        {
            lines = File.ReadAllLines(selfCgroupFile);
        }
        catch (IOException e)
        {
            return new SampledEnvelope(limitBytes, $"cannot read {selfCgroupFile}: {e.Message}");
        }

        if (V2Parent(lines, cgroupRoot) is { } parent)
        {
            if (!ReadOrEmpty(Path.Combine(parent, "cgroup.subtree_control")).Contains("memory", StringComparison.Ordinal))
            {
                reasons.Add($"cgroup v2: the memory controller is not enabled for children of {parent}");
            }
            else if (TryCreate(parent, true, limitBytes, reasons) is { } v2)
            {
                return v2;
            }
        }
        else
        {
            reasons.Add($"cgroup v2: no unified hierarchy at {cgroupRoot}");
        }

        if (V1Parent(lines, cgroupRoot) is { } v1Parent)
        {
            if (TryCreate(v1Parent, false, limitBytes, reasons) is { } v1)
            {
                return v1;
            }
        }
        else
        {
            reasons.Add("cgroup v1: no memory controller");
        }

        return new SampledEnvelope(limitBytes, "no cgroup (" + string.Join("; ", reasons) + "): sampled process-tree RSS");
    }

    /// <summary>
    /// Removes leftover build cgroups (<see cref="CgroupEnvelope.RemoveLeftovers"/>) where <see cref="Create"/> makes
    /// them: under this process's v2 group and its v1 memory group. Returns what was removed and what was left busy.
    /// </summary>
    public static (IReadOnlyList<string> Removed, IReadOnlyList<string> Busy) RemoveLeftovers(
        string cgroupRoot = "/sys/fs/cgroup", string selfCgroupFile = "/proc/self/cgroup", TimeSpan? minimumAge = null)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(selfCgroupFile);
        }
        catch (IOException)
        {
            return ([], []); // no cgroups here: none can be left over
        }

        var removed = new List<string>();
        var busy = new List<string>();
        foreach (var parent in new[] { V2Parent(lines, cgroupRoot), V1Parent(lines, cgroupRoot) })
        {
            if (parent is not null)
            {
                var (r, b) = CgroupEnvelope.RemoveLeftovers(parent, minimumAge);
                removed.AddRange(r);
                busy.AddRange(b);
            }
        }

        return (removed, busy);
    }

    private static string? V2Parent(string[] lines, string cgroupRoot) =>
        lines.FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..] is { } path && File.Exists(Path.Combine(cgroupRoot, "cgroup.controllers"))
            ? cgroupRoot + path.TrimEnd('/')
            : null;

    private static string? V1Parent(string[] lines, string cgroupRoot) =>
        lines.Select(l => l.Split(':', 3)).FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains("memory"))?[2] is { } path
            && Directory.Exists(Path.Combine(cgroupRoot, "memory"))
            ? Path.Combine(cgroupRoot, "memory") + path.TrimEnd('/')
            : null;

    private static string ReadOrEmpty(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ""; // reported as "not enabled"
        }
    }

    private static CgroupEnvelope? TryCreate(string parent, bool v2, long limitBytes, List<string> reasons)
    {
        try
        {
            return CgroupEnvelope.Create(parent, v2, limitBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            reasons.Add($"cgroup {(v2 ? "v2" : "v1")}: cannot create a group under {parent}: {e.Message}");
            return null;
        }
    }
}
