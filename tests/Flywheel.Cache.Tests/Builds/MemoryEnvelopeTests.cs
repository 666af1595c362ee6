using Flywheel.Cache.Builds;

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
}
