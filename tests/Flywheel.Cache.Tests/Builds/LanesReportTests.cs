using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Cli;

namespace Flywheel.Cache.Tests.Builds;

/// <summary>
/// The lanes report shows every lane an installable ran on: an installable killed for memory on the baseline lane and
/// then built on the heavy one lists both, the baseline with its kill (when, after how long, at what peak).
/// </summary>
public sealed class LanesReportTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static readonly LaneSet Lanes = new([new Lane("baseline", 4, 64L << 20, 1, "baseline"), new Lane("heavy", 8, 1L << 30, 1, "heavy")]);

    private static BuildAttemptRecord Attempt(string build, int attempt, string lane, BuildOutcome outcome, long peak, double startedAt, double seconds) => new(
        build, attempt, "./hog.nix#hog", lane, outcome, outcome == BuildOutcome.Succeeded ? 0 : 137, peak, "cgroup-v2", 1, 0,
        [new BuildPhase("bootstrap", TimeSpan.FromMilliseconds(100), true), new BuildPhase("build", TimeSpan.FromSeconds(seconds - 0.5), outcome == BuildOutcome.Succeeded)],
        T0.AddSeconds(startedAt), T0.AddSeconds(startedAt + seconds));

    private static readonly BuildAttemptRecord[] History =
    [
        Attempt("b1", 1, "baseline", BuildOutcome.OutOfMemory, 67_100_000, 0, 3.25),
        Attempt("b1", 2, "heavy", BuildOutcome.Succeeded, 140_000_000, 10, 6),
        Attempt("b2", 1, "heavy", BuildOutcome.Succeeded, 150_000_000, 100, 8),
        Attempt("b3", 1, "heavy", BuildOutcome.TimedOut, 20_000_000, 200, 30),
    ];

    [Fact]
    public void An_installable_killed_on_the_baseline_and_built_on_heavy_shows_both_lanes()
    {
        var report = LanesReport.From(Lanes, History);

        var hog = Assert.Single(report.Installables);
        Assert.Equal((4, 1, 1), (hog.Attempts, hog.OutOfMemoryKills, hog.Timeouts));
        Assert.Equal(["baseline", "heavy"], hog.Lanes.Select(l => l.Lane));

        var baseline = hog.Lanes[0];
        Assert.Equal((1, 0, null, 67_100_000L), (baseline.Runs, baseline.Succeeded, baseline.MedianSeconds, baseline.MaxPeakMemoryBytes));
        var kill = Assert.Single(baseline.OutOfMemoryKills);
        Assert.Equal(new LaneKill("b1", 1, T0.AddSeconds(3.25), 3.25, 67_100_000, "cgroup-v2"), kill);
        Assert.Empty(baseline.Timeouts);

        var heavy = hog.Lanes[1];
        Assert.Equal((3, 2, 7.0, 150_000_000L), (heavy.Runs, heavy.Succeeded, heavy.MedianSeconds, heavy.MaxPeakMemoryBytes));
        Assert.Empty(heavy.OutOfMemoryKills);
        Assert.Equal(new LaneKill("b3", 1, T0.AddSeconds(230), 30, 20_000_000, "cgroup-v2"), Assert.Single(heavy.Timeouts));
    }

    [Fact]
    public void The_cli_text_shows_every_lane_with_its_kills()
    {
        using var text = new StringWriter();
        LanesCommand.Write(text, LanesReport.From(Lanes, History));

        var lines = text.ToString().Split(Environment.NewLine);
        Assert.Contains("  on baseline: 1 run(s), 0 succeeded, 1 OOM kill(s), 0 timeout(s); median n/a, peak 67100000 bytes", lines);
        Assert.Contains("    OOM kill at 2026-12-01 10:00:03Z after 3.25 s, peak 67100000 bytes (cgroup-v2; build b1, attempt 1)", lines);
        Assert.Contains("  on heavy: 3 run(s), 2 succeeded, 0 OOM kill(s), 1 timeout(s); median 7 s, peak 150000000 bytes", lines);
        Assert.Contains("    timeout at 2026-12-01 10:03:50Z after 30 s, peak 20000000 bytes (cgroup-v2; build b3, attempt 1)", lines);
    }
}
