using System.Diagnostics.Metrics;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>The build orchestration's instruments; lane names come from configuration, so the series stay few.</summary>
public sealed partial class FlywheelMetrics
{
    /// <summary>Histogram bounds for build phases: a second to four hours.</summary>
    public static readonly IReadOnlyList<double> BuildSecondsBuckets = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];

    /// <summary>Histogram bounds for build memory: 16 MiB to 64 GiB, doubling.</summary>
    public static readonly IReadOnlyList<long> MemoryBuckets = [.. Enumerable.Range(24, 13).Select(bits => 1L << bits)];

    private volatile IReadOnlyList<BuildCount> _activeBuilds = [];

    /// <summary><c>flywheel_build_attempts_total{lane,outcome}</c></summary>
    public Counter<long> BuildAttempts { get; }

    /// <summary><c>flywheel_build_phase_duration_seconds{lane,phase}</c></summary>
    public Histogram<double> BuildPhaseDuration { get; }

    /// <summary><c>flywheel_build_peak_memory_bytes{lane}</c></summary>
    public Histogram<long> BuildPeakMemory { get; }

    /// <summary><c>flywheel_build_oom_reroutes_total{lane,to}</c></summary>
    public Counter<long> BuildOomReroutes { get; }

    /// <summary>One finished attempt: its outcome, the duration of each phase, and its peak memory when measured.</summary>
    public void RecordBuildAttempt(BuildAttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        RecordBuildOutcome(attempt.Lane, attempt.Outcome);
        var lane = new KeyValuePair<string, object?>("lane", attempt.Lane);
        foreach (var phase in attempt.Phases)
        {
            BuildPhaseDuration.Record(phase.Duration.TotalSeconds, lane, new KeyValuePair<string, object?>("phase", phase.Name));
        }

        if (attempt.PeakMemoryBytes is { } peak)
        {
            BuildPeakMemory.Record(peak, lane);
        }
    }

    /// <summary>An attempt that ended with <paramref name="outcome"/> on <paramref name="lane"/> (a lost one has no phases of its own).</summary>
    public void RecordBuildOutcome(string lane, BuildOutcome outcome) =>
        BuildAttempts.Add(1, new KeyValuePair<string, object?>("lane", lane), new KeyValuePair<string, object?>("outcome", BuildOutcomes.Name(outcome)));

    /// <summary>A build killed for memory on <paramref name="lane"/> and queued again on <paramref name="to"/>.</summary>
    public void RecordOomReroute(string lane, string to) =>
        BuildOomReroutes.Add(1, new KeyValuePair<string, object?>("lane", lane), new KeyValuePair<string, object?>("to", to));

    /// <summary>The queued and running builds per lane, as last counted (<c>flywheel_build_queue_depth</c>, <c>flywheel_build_running</c>).</summary>
    public void RecordActiveBuilds(IReadOnlyList<BuildCount> counts) => _activeBuilds = counts;

    private IEnumerable<Measurement<long>> ObserveQueuedBuilds() => Observe(BuildStatus.Queued);

    private IEnumerable<Measurement<long>> ObserveRunningBuilds() => Observe(BuildStatus.Running);

    private IEnumerable<Measurement<long>> Observe(BuildStatus status) =>
        _activeBuilds.Where(c => c.Status == status).Select(c => new Measurement<long>(c.Count, new KeyValuePair<string, object?>("lane", c.Lane)));
}
