using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;
using Prometheus;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>The build orchestration's metrics; lane names come from configuration, so the series stay few.</summary>
public sealed partial class FlywheelMetrics : IBuildMetrics
{
    /// <summary>Histogram bounds for build phases: a second to four hours.</summary>
    public static readonly IReadOnlyList<double> BuildSecondsBuckets = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];

    /// <summary>Histogram bounds for build memory: 16 MiB to 64 GiB, doubling.</summary>
    public static readonly IReadOnlyList<long> MemoryBuckets = [.. Enumerable.Range(24, 13).Select(bits => 1L << bits)];


    /// <summary><c>flywheel_build_attempts_total{lane,outcome}</c></summary>
    public Counter BuildAttempts { get; }

    /// <summary><c>flywheel_build_phase_duration_seconds{lane,phase}</c></summary>
    public Histogram BuildPhaseDuration { get; }

    /// <summary><c>flywheel_build_peak_memory_bytes{lane}</c></summary>
    public Histogram BuildPeakMemory { get; }

    /// <summary><c>flywheel_build_oom_reroutes_total{lane,to}</c></summary>
    public Counter BuildOomReroutes { get; }

    /// <summary><c>flywheel_build_queue_depth{lane}</c></summary>
    public Gauge BuildQueueDepth { get; }

    /// <summary><c>flywheel_build_running{lane}</c></summary>
    public Gauge BuildsRunning { get; }

    /// <summary>One finished attempt: its outcome, the duration of each phase, and its peak memory when measured.</summary>
    public void RecordBuildAttempt(BuildAttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        RecordBuildOutcome(attempt.Lane, attempt.Outcome);
        foreach (var phase in attempt.Phases)
        {
            BuildPhaseDuration.WithLabels(attempt.Lane, phase.Name).Observe(phase.Duration.TotalSeconds);
        }

        if (attempt.PeakMemoryBytes is { } peak)
        {
            BuildPeakMemory.WithLabels(attempt.Lane).Observe(peak);
        }
    }

    /// <summary>An attempt that ended with <paramref name="outcome"/> on <paramref name="lane"/> (a lost one has no phases of its own).</summary>
    public void RecordBuildOutcome(string lane, BuildOutcome outcome) => BuildAttempts.WithLabels(lane, BuildOutcomes.Name(outcome)).Inc();

    /// <summary>A build killed for memory on <paramref name="lane"/> and queued again on <paramref name="to"/>.</summary>
    public void RecordOomReroute(string lane, string to) => BuildOomReroutes.WithLabels(lane, to).Inc();

    /// <summary>The queued and running builds per lane, as last counted (<c>flywheel_build_queue_depth</c>, <c>flywheel_build_running</c>).</summary>
    public void RecordActiveBuilds(IReadOnlyList<BuildCount> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ReplaceSeries(BuildQueueDepth, Counted(counts, BuildStatus.Queued));
        ReplaceSeries(BuildsRunning, Counted(counts, BuildStatus.Running));
    }

    private static IEnumerable<(string[] Labels, double Value)> Counted(IReadOnlyList<BuildCount> counts, BuildStatus status) =>
        counts.Where(c => c.Status == status).Select(c => ((string[])[c.Lane], (double)c.Count));
}
