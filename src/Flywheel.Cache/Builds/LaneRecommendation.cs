using System.Globalization;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>A lane chosen for an installable, with the reasoning in words (the API and the build record show it).</summary>
public sealed record LaneRecommendation(Lane Lane, string Explanation, long? PeakPercentileBytes, long? NeededBytes);

/// <summary>
/// Picks the lane for an installable from its history: the smallest lane whose memory envelope exceeds the
/// <see cref="Percentile"/>th percentile of the peaks of its successful attempts times <see cref="Margin"/>.
/// An out-of-memory kill on a lane forces the next larger lane until a later success on that lane (or a smaller
/// one) shows the kill was not the rule.
/// </summary>
public static class LaneRecommender
{
    public const double Percentile = 0.9;
    public const double Margin = 1.2;

    /// <summary>How many of the newest attempts count.</summary>
    public const int HistoryLimit = 50;

    /// <param name="history">The installable's attempts, in any order.</param>
    public static LaneRecommendation Recommend(LaneSet lanes, IReadOnlyList<BuildAttemptRecord> history)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(history);
        var newestFirst = history.OrderByDescending(a => a.FinishedAt).ThenByDescending(a => a.Attempt).Take(HistoryLimit).ToList();
        if (newestFirst.Count == 0)
        {
            return new LaneRecommendation(lanes.Smallest, $"no history yet: the smallest lane, {lanes.Smallest}", null, null);
        }

        var (floor, floorReason) = OutOfMemoryFloor(lanes, newestFirst);
        var peaks = newestFirst.Where(a => a.Outcome == BuildOutcome.Succeeded && a.PeakMemoryBytes is > 0)
            .Select(a => a.PeakMemoryBytes!.Value).Order().ToArray();
        if (peaks.Length == 0)
        {
            var lane = floor ?? lanes.Smallest;
            return new LaneRecommendation(lane, $"{floorReason ?? "no successful attempt with a measured peak yet"}: {lane}", null, null);
        }

        var percentile = NearestRank(peaks, Percentile);
        var needed = (long)Math.Ceiling(percentile * Margin);
        var fits = lanes.All.FirstOrDefault(l => l.MemoryBytes > needed);
        var measured = string.Create(CultureInfo.InvariantCulture,
            $"p{Percentile * 100:0} of {peaks.Length} measured peak(s) is {Mib(percentile)}, with a {Margin:0.0#}× margin {Mib(needed)}");
        var chosen = fits ?? lanes.Largest;
        var why = fits is null ? $"{measured}; no lane is that large, so the largest" : $"{measured}; the smallest lane above it";
        if (floor is not null && floor.MemoryBytes > chosen.MemoryBytes)
        {
            chosen = floor;
            why = $"{measured}, but {floorReason}";
        }
        else if (floor is not null)
        {
            why = $"{why}; also, {floorReason}";
        }

        return new LaneRecommendation(chosen, $"{why}: {chosen}", percentile, needed);
    }

    /// <summary>The lane an unanswered OOM kill forces (the next larger than where it was killed), with why; null when none does.</summary>
    private static (Lane? Floor, string? Reason) OutOfMemoryFloor(LaneSet lanes, List<BuildAttemptRecord> newestFirst)
    {
        Lane? floor = null;
        string? reason = null;
        foreach (var attempt in newestFirst.Where(a => a.Outcome == BuildOutcome.OutOfMemory))
        {
            var killedOn = lanes.Find(attempt.Lane);
            if (killedOn is null)
            {
                continue; // a lane no longer configured
            }

            var answered = newestFirst.Any(a => a.Outcome == BuildOutcome.Succeeded && a.FinishedAt > attempt.FinishedAt
                && lanes.Find(a.Lane) is { } l && l.MemoryBytes <= killedOn.MemoryBytes);
            if (answered)
            {
                continue;
            }

            var next = lanes.NextLarger(killedOn) ?? killedOn;
            if (floor is null || next.MemoryBytes > floor.MemoryBytes)
            {
                floor = next;
                reason = $"it was killed for memory on {killedOn.Name} at {attempt.FinishedAt:u} with no later success there, which forces {next.Name}";
            }
        }

        return (floor, reason);
    }

    /// <summary>The nearest-rank percentile of sorted values.</summary>
    public static long NearestRank(IReadOnlyList<long> sorted, double percentile)
    {
        var rank = (int)Math.Ceiling(percentile * sorted.Count);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }

    private static string Mib(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024 * 1024):0.#} MiB");
}
