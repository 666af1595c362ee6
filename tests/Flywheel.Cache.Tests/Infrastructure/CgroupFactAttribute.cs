using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// A fact that needs a real cgroup (v2 with the memory controller delegated, or v1's memory controller) the test
/// process can create groups in. A container without one cannot have it, so there the test is reported as skipped,
/// with the reasons <see cref="MemoryEnvelopes.Create"/> gave; it never passes without a cgroup.
/// </summary>
public sealed class CgroupFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> WhyNot = new(() =>
    {
        using var probe = MemoryEnvelopes.Create(64L << 20);
        return probe is CgroupEnvelope ? null : $"needs a cgroup this process can create, and this machine has none: {probe.Method}";
    });

    public CgroupFactAttribute()
    {
        if (WhyNot.Value is { } reason)
        {
            Skip = reason;
        }
    }
}
