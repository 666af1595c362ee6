using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>
/// Measured figures per installable, from its attempts: median bootstrap seconds, median build-phase seconds of cold
/// builds (something was built) and of warm ones (nothing built: all substituted from the gateway or present), median
/// total seconds and peak memory per lane (the heavy-versus-baseline comparison), and how many attempts were OOM kills.
/// </summary>
public sealed record LanesReport(IReadOnlyList<LaneReportLane> Lanes, IReadOnlyList<InstallableReport> Installables)
{
    /// <summary>How many attempts are read from the index at a time.</summary>
    public const int PageSize = 1000;

    /// <summary>
    /// The report over the whole history: attempts are read page by page grouped by installable, so only one
    /// installable's attempts are held at a time, whatever the size of the history.
    /// </summary>
    public static async Task<LanesReport> ReadAsync(IMetadataStore index, LaneSet lanes, CancellationToken cancellationToken, int pageSize = PageSize)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(lanes);
        var installables = new List<InstallableReport>();
        var current = new List<BuildAttemptRecord>();
        BuildAttemptRecord? after = null;
        while (true)
        {
            var page = await index.ListBuildAttemptsByInstallableAsync(after, pageSize, cancellationToken).ConfigureAwait(false);
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
                    .Select(lane => (lane, runs: succeeded.Where(a => a.Lane == lane).ToList()))
                    .Where(x => x.runs.Count > 0)
                    .Select(x => new InstallableLaneFigures(
                        x.lane, x.runs.Count, Median(x.runs.Select(a => (double?)(a.FinishedAt - a.StartedAt).TotalSeconds)),
                        x.runs.Max(a => a.PeakMemoryBytes)))
                    .ToList());
        }).ToList();
        return new LanesReport(lanes.All.Select(l => new LaneReportLane(l.Name, l.Cpus, l.MemoryBytes, l.Concurrency, l.RunnerLabel)).ToList(), installables);
    }

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

/// <param name="ColdBuildSeconds">Median build-phase seconds of successful attempts that built something.</param>
/// <param name="WarmBuildSeconds">Median build-phase seconds of successful attempts that built nothing (substituted).</param>
public sealed record InstallableReport(
    string Installable, int Attempts, int OutOfMemoryKills, double? BootstrapSeconds, double? ColdBuildSeconds, double? WarmBuildSeconds,
    IReadOnlyList<InstallableLaneFigures> Lanes);

/// <summary>Successful attempts of an installable on one lane: how many, median total seconds, highest peak.</summary>
public sealed record InstallableLaneFigures(string Lane, int Runs, double? MedianSeconds, long? MaxPeakMemoryBytes);
