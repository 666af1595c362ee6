using System.Globalization;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>
/// What becomes of a build after an attempt: an attempt killed for memory is queued once more on the next larger lane
/// (only once per build, and not from the largest lane); every other outcome ends the build, a timeout included (a
/// build that ran past its time limit would run past it on a larger lane too). Attempts lost with their worker are
/// retried by whichever worker reclaims the build, up to <see cref="MaxLostAttempts"/>.
/// </summary>
public static class BuildAttemptPolicy
{
    /// <summary>How many attempts of one build may be lost (their workers vanished) before it is given up.</summary>
    public const int MaxLostAttempts = 3;

    /// <summary>
    /// The build as it stands after the attempt on <paramref name="lane"/> ended with <paramref name="result"/>, and the
    /// lane it was rerouted to (null: the build is finished). <paramref name="earlier"/> are the build's attempts recorded
    /// before this one.
    /// </summary>
    public static (BuildRecord Build, Lane? ReroutedTo) After(
        BuildRecord build, Lane lane, BuildAttemptResult result, IEnumerable<BuildAttemptRecord> earlier, LaneSet lanes, string? logPath, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(earlier);
        ArgumentNullException.ThrowIfNull(lanes);
        var next = result.Outcome == BuildOutcome.OutOfMemory && !earlier.Any(a => a.Outcome == BuildOutcome.OutOfMemory)
            ? lanes.NextLarger(lane) : null;
        if (next is not null)
        {
            return (build with
            {
                Lane = next.Name,
                LaneReason = $"rerouted: attempt {build.Attempt} was killed for memory on {lane.Name} (peak {result.PeakMemoryBytes?.ToString(CultureInfo.InvariantCulture) ?? "unknown"} bytes, {result.MemoryLimit})",
                Status = BuildStatus.Queued,
                Worker = null,
                LeasedUntil = null,
                Phase = null,
                PhaseStartedAt = null,
                LogPath = logPath,
                Error = result.Error,
            }, next);
        }

        return (build with
        {
            Status = result.Outcome == BuildOutcome.Succeeded ? BuildStatus.Succeeded : BuildStatus.Failed,
            FinishedAt = now,
            LeasedUntil = null,
            Phase = null,
            PhaseStartedAt = null,
            Outputs = result.Outputs,
            LogPath = logPath,
            Error = result.Error,
        }, null);
    }
}
