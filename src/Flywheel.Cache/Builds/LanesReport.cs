using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>
/// Measured figures per installable, from its attempts: median bootstrap seconds, median build-phase seconds of cold
/// builds (something was built) and of warm ones (nothing built: all substituted from the gateway or present), and per
/// lane it ran on (the heavy-versus-baseline comparison) its runs, successes, OOM kills and timeouts (each with when,
/// after how long and at what peak), median seconds of the successes and the highest peak memory.
/// </summary>
public sealed record LanesReport(IReadOnlyList<LaneReportLane> Lanes, IReadOnlyList<InstallableReport> Installables)
{
    /// <summary>How many attempts are read from the index at a time.</summary>
    public const int PageSize = 1000;

    /// <summary>
    /// The report over the whole history: attempts are read page by page grouped by installable, so only one
    /// installable's attempts are held at a time, whatever the size of the history.
    /// </summary>
    public static async Task<LanesReport> ReadAsync(IBuildStore builds, LaneSet lanes, CancellationToken cancellationToken, int pageSize = PageSize)
    {
        ArgumentNullException.ThrowIfNull(builds);
        ArgumentNullException.ThrowIfNull(lanes);
        var installables = new List<InstallableReport>();
        var current = new List<BuildAttemptRecord>();
        BuildAttemptRecord? after = null;
        while (true)
        {
            var page = await builds.ListBuildAttemptsByInstallableAsync(after, pageSize, cancellationToken).ConfigureAwait(false);
            foreach (var attempt in page)
            {
                if (current.Count > 0 && current[0].Installable != attempt.Installable)
                {
                    installables.AddRange(From(lanes, current).Installables);
                    current.Clear();
                }

                current.Add(attempt);
            }

            if (page.Count < pageSize)
            {
                break;
            }

            after = page[^1];
        }

        installables.AddRange(From(lanes, current).Installables);
        return From(lanes, []) with { Installables = [.. installables.OrderBy(i => i.Installable, StringComparer.Ordinal)] };
    }

    public static LanesReport From(LaneSet lanes, IReadOnlyList<BuildAttemptRecord> attempts)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(attempts);
        var installables = attempts.GroupBy(a => a.Installable, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            var succeeded = g.Where(a => a.Outcome == BuildOutcome.Succeeded).ToList();
            return new InstallableReport(
                g.Key,
                g.Count(),
                g.Count(a => a.Outcome == BuildOutcome.OutOfMemory),
                Median(g.Select(a => Phase(a, "bootstrap"))),
                Median(succeeded.Where(a => a.BuiltPaths > 0).Select(a => Phase(a, "build"))),
                Median(succeeded.Where(a => a.BuiltPaths == 0).Select(a => Phase(a, "build"))),
                lanes.All.Select(l => l.Name).Concat(g.Select(a => a.Lane)).Distinct(StringComparer.Ordinal)
                    .Select(lane => g.Where(a => a.Lane == lane).ToList())
                    .Where(runs => runs.Count > 0)
                    .Select(LaneFigures)
                    .ToList())
            {
                Timeouts = g.Count(a => a.Outcome == BuildOutcome.TimedOut),
            };
        }).ToList();
        return new LanesReport(lanes.All.Select(l => new LaneReportLane(l.Name, l.Cpus, l.MemoryBytes, l.Concurrency, l.RunnerLabel)).ToList(), installables);
    }

    /// <summary>Every attempt of one installable on one lane, whatever its outcome: a lane where it was only ever killed shows as much as one where it succeeded.</summary>
    private static InstallableLaneFigures LaneFigures(List<BuildAttemptRecord> runs)
    {
        var succeeded = runs.Where(a => a.Outcome == BuildOutcome.Succeeded).ToList();
        List<LaneKill> Kills(BuildOutcome outcome) => runs.Where(a => a.Outcome == outcome)
            .OrderBy(a => a.FinishedAt).ThenBy(a => a.BuildId, StringComparer.Ordinal).ThenBy(a => a.Attempt)
            .Select(a => new LaneKill(a.BuildId, a.Attempt, a.FinishedAt, Seconds(a), a.PeakMemoryBytes, a.MemoryLimit))
            .ToList();
        return new InstallableLaneFigures(runs[0].Lane, runs.Count, Median(succeeded.Select(a => (double?)Seconds(a))), runs.Max(a => a.PeakMemoryBytes))
        {
            Succeeded = succeeded.Count,
            OutOfMemoryKills = Kills(BuildOutcome.OutOfMemory),
            Timeouts = Kills(BuildOutcome.TimedOut),
        };
    }

    private static double Seconds(BuildAttemptRecord attempt) => Math.Round((attempt.FinishedAt - attempt.StartedAt).TotalSeconds, 3);

    private static double? Phase(BuildAttemptRecord attempt, string name) =>
        attempt.Phases.FirstOrDefault(p => p.Name == name) is { } phase ? phase.Duration.TotalSeconds : null;

    private static double? Median(IEnumerable<double?> values)
    {
        var sorted = values.Where(v => v.HasValue).Select(v => v!.Value).Order().ToArray();
        return sorted.Length == 0 ? null
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

public sealed record LaneReportLane(string Name, int Cpus, long MemoryBytes, int Concurrency, string RunnerLabel);

/// <param name="OutOfMemoryKills">Attempts killed for memory, on any lane.</param>
/// <param name="ColdBuildSeconds">Median build-phase seconds of successful attempts that built something.</param>
/// <param name="WarmBuildSeconds">Median build-phase seconds of successful attempts that built nothing (substituted).</param>
/// <param name="Lanes">Every lane the installable ran on, with its attempts there.</param>
public sealed record InstallableReport(
    string Installable, int Attempts, int OutOfMemoryKills, double? BootstrapSeconds, double? ColdBuildSeconds, double? WarmBuildSeconds,
    IReadOnlyList<InstallableLaneFigures> Lanes)
{
    /// <summary>Attempts stopped at their time limit, on any lane.</summary>
    public int Timeouts { get; init; }
}

/// <summary>
/// The attempts of an installable on one lane: how many (any outcome), the median total seconds of the successful ones,
/// the highest peak of all (a killed attempt's included), how many succeeded, and each OOM kill and timeout.
/// </summary>
public sealed record InstallableLaneFigures(string Lane, int Runs, double? MedianSeconds, long? MaxPeakMemoryBytes)
{
    public int Succeeded { get; init; }

    public IReadOnlyList<LaneKill> OutOfMemoryKills { get; init; } = [];

    public IReadOnlyList<LaneKill> Timeouts { get; init; } = [];
}

/// <summary>An attempt that was killed (for memory, or at its time limit): which, when it ended, after how long, at what peak, under which envelope.</summary>
public sealed record LaneKill(string BuildId, int Attempt, DateTimeOffset At, double Seconds, long? PeakMemoryBytes, string MemoryLimit);
