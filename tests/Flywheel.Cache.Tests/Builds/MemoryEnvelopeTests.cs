using Flywheel.Cache.Builds;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Builds;

/// <summary>
/// The envelope on this machine (a cgroup when one can be made, else sampling) and the sampling fallback on its own,
/// each with a shell that holds ~64 MiB in a variable against a 16 MiB limit.
/// </summary>
public sealed class MemoryEnvelopeTests
{
    private static readonly ProcessCommand Hog = new("/bin/sh", ["-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); sleep 2; echo ${#x}"], TimeSpan.FromMinutes(1));
    private static readonly ProcessCommand Small = new("/bin/sh", ["-c", "echo hello"], TimeSpan.FromMinutes(1));

    [Fact]
    public async Task The_machines_envelope_kills_a_process_over_its_limit_and_reports_how()
    {
        using var envelope = MemoryEnvelopes.Create(16L << 20);
        var result = await new ProcessRunner().RunAsync(envelope.Wrap(Hog), null, envelope.Watch, CancellationToken.None);
        Assert.NotEqual(0, result.ExitCode);
        Assert.True(envelope.OutOfMemoryKilled, $"{envelope.Method}: exit {result.ExitCode}");
        Assert.Matches("^(cgroup-v1|cgroup-v2|none: .+)$", envelope.Method);
    }

    [Fact]
    public async Task Sampling_kills_a_tree_over_the_limit_and_records_the_peak()
    {
        using var envelope = new SampledEnvelope(16L << 20, "test");
        var result = await new ProcessRunner().RunAsync(envelope.Wrap(Hog), null, envelope.Watch, CancellationToken.None);
        Assert.Equal(137, result.ExitCode);
        Assert.True(envelope.OutOfMemoryKilled);
        Assert.True(envelope.PeakBytes > 16L << 20, $"peak {envelope.PeakBytes}");
        Assert.Equal("none: test", envelope.Method);
    }

    [Fact]
    public async Task A_process_within_the_limit_runs_and_its_output_is_kept()
    {
        using var envelope = MemoryEnvelopes.Create(256L << 20);
        var result = await new ProcessRunner().RunAsync(envelope.Wrap(Small), null, envelope.Watch, CancellationToken.None);
        Assert.Equal((0, "hello\n"), (result.ExitCode, result.StandardOutput));
        Assert.False(envelope.OutOfMemoryKilled);
    }

    [Fact]
    public void Leftover_groups_named_like_ours_are_removed_when_empty_and_others_are_left_alone()
    {
        // a stand-in for a cgroup hierarchy (v1 layout): empty folders are removable, as empty cgroups are
        var root = Directory.CreateTempSubdirectory("flywheel-cgroups-").FullName;
        try
        {
            var self = Path.Combine(root, "self-cgroup");
            File.WriteAllText(self, "5:memory:/pod\n");
            var parent = Directory.CreateDirectory(Path.Combine(root, "memory", "pod")).FullName;
            var leftover = Directory.CreateDirectory(Path.Combine(parent, "flywheel-build-0123456789ab")).FullName;
            var busy = Directory.CreateDirectory(Path.Combine(parent, "flywheel-build-ba9876543210")).FullName;
            File.WriteAllText(Path.Combine(busy, "cgroup.procs"), "4242\n");
            var foreign = Directory.CreateDirectory(Path.Combine(parent, "flywheel-build-not-ours")).FullName;
            var other = Directory.CreateDirectory(Path.Combine(parent, "someone-else")).FullName;

            var (removed, left) = MemoryEnvelopes.RemoveLeftovers(root, self, TimeSpan.Zero);

            Assert.Equal([leftover], removed);
            Assert.Equal([busy], left);
            Assert.False(Directory.Exists(leftover));
            Assert.True(Directory.Exists(busy) && Directory.Exists(foreign) && Directory.Exists(other));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void An_empty_group_made_a_moment_ago_is_another_workers_build_about_to_start_and_is_left_alone()
    {
        // every daemon's workers clean up at start; a group another worker just made is empty until its build enters it
        var root = Directory.CreateTempSubdirectory("flywheel-cgroups-").FullName;
        try
        {
            var self = Path.Combine(root, "self-cgroup");
            File.WriteAllText(self, "5:memory:/pod\n");
            var parent = Directory.CreateDirectory(Path.Combine(root, "memory", "pod")).FullName;
            var starting = Directory.CreateDirectory(Path.Combine(parent, "flywheel-build-0123456789ab")).FullName;
            var old = Directory.CreateDirectory(Path.Combine(parent, "flywheel-build-ba9876543210")).FullName;
            Directory.SetLastWriteTimeUtc(old, DateTime.UtcNow - CgroupEnvelope.LeftoverMinimumAge - TimeSpan.FromMinutes(1));

            var (removed, left) = MemoryEnvelopes.RemoveLeftovers(root, self);

            Assert.Equal([old], removed);
            Assert.Equal([starting], left);
            Assert.True(Directory.Exists(starting));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [CgroupFact]
    public void A_real_cgroup_left_behind_is_removed()
    {
        using var probe = MemoryEnvelopes.Create(64L << 20);
        var cgroup = Assert.IsType<CgroupEnvelope>(probe);

        // in a parent group of the test's own, so that other processes' build groups on this machine are not touched
        var parent = Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(cgroup.GroupDirectory)!, "flywheel-test-" + Guid.NewGuid().ToString("N")[..12])).FullName;
        try
        {
            if (cgroup.IsV2)
            {
                File.WriteAllText(Path.Combine(parent, "cgroup.subtree_control"), "+memory");
            }

            var leftover = CgroupEnvelope.Create(parent, cgroup.IsV2, 64L << 20); // never disposed: as after a worker crashed
            var (removed, busy) = CgroupEnvelope.RemoveLeftovers(parent, TimeSpan.Zero);

            Assert.Equal([leftover.GroupDirectory], removed);
            Assert.Empty(busy);
            Assert.False(Directory.Exists(leftover.GroupDirectory));
        }
        finally
        {
            Directory.Delete(parent);
        }
    }
}
