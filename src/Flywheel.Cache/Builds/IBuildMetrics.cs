using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>What build workers report as they run; the server's metrics implement it (<c>flywheel_build_…</c>).</summary>
public interface IBuildMetrics
{
    /// <summary>One finished attempt: its outcome, the duration of each phase, its peak memory when measured.</summary>
    void RecordBuildAttempt(BuildAttemptRecord attempt);

    /// <summary>An attempt that ended with <paramref name="outcome"/> on <paramref name="lane"/> without running to its end here (lost with its worker).</summary>
    void RecordBuildOutcome(string lane, BuildOutcome outcome);

    /// <summary>A build killed for memory on <paramref name="lane"/> and queued again on <paramref name="to"/>.</summary>
    void RecordOomReroute(string lane, string to);
}
