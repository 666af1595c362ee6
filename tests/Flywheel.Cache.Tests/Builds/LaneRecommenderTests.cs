using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Builds;

public sealed class LaneRecommenderTests
{
    private const long Mib = 1024 * 1024;
    private static readonly LaneSet Lanes = new([new Lane("heavy", 8, 1600 * Mib, 1, "heavy"), new Lane("base", 4, 800 * Mib, 1, "base")]);
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    private static BuildAttemptRecord Attempt(int minute, string lane, BuildOutcome outcome, long? peakMib) => new(
        "b" + minute, 1, "x#y", lane, outcome, 0, peakMib * Mib, "cgroup-v1", 1, 0, [], T0.AddMinutes(minute - 1), T0.AddMinutes(minute));

    [Fact]
    public void Without_history_the_smallest_lane()
    {
        var r = LaneRecommender.Recommend(Lanes, []);
        Assert.Equal("base", r.Lane.Name);
        Assert.Contains("no history", r.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void The_smallest_lane_above_the_p90_peak_with_margin()
    {
        // ten peaks 100..1000 MiB (sorted: p90 nearest rank = 9th = 600 MiB when one outlier is 1000)
        var history = new[] { 100, 200, 300, 400, 500, 500, 600, 600, 600, 1000 }.Select((p, i) => Attempt(i, "base", BuildOutcome.Succeeded, p)).ToList();
        var r = LaneRecommender.Recommend(Lanes, history);
        Assert.Equal(600 * Mib, r.PeakPercentileBytes);
        Assert.Equal((long)Math.Ceiling(600 * Mib * 1.2), r.NeededBytes);
        Assert.Equal("base", r.Lane.Name); // 720 MiB < 800 MiB
        Assert.Contains("p90 of 10 measured peak(s) is 600 MiB", r.Explanation, StringComparison.Ordinal);

        var r2 = LaneRecommender.Recommend(Lanes, [Attempt(1, "heavy", BuildOutcome.Succeeded, 700)]); // 840 MiB needed
        Assert.Equal("heavy", r2.Lane.Name);
    }

    [Fact]
    public void Beyond_every_lane_the_largest_and_says_so()
    {
        var r = LaneRecommender.Recommend(Lanes, [Attempt(1, "heavy", BuildOutcome.Succeeded, 1500)]);
        Assert.Equal("heavy", r.Lane.Name);
        Assert.Contains("no lane is that large", r.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void An_oom_forces_the_next_larger_lane_until_a_later_success_on_the_smaller()
    {
        var small = Attempt(1, "base", BuildOutcome.Succeeded, 100);
        var oom = Attempt(2, "base", BuildOutcome.OutOfMemory, 800);
        var rerouted = Attempt(3, "heavy", BuildOutcome.Succeeded, 120);

        var forced = LaneRecommender.Recommend(Lanes, [small, oom, rerouted]);
        Assert.Equal("heavy", forced.Lane.Name);
        Assert.Contains("killed for memory on base", forced.Explanation, StringComparison.Ordinal);

        var onlyOom = LaneRecommender.Recommend(Lanes, [oom]);
        Assert.Equal("heavy", onlyOom.Lane.Name);

        var later = LaneRecommender.Recommend(Lanes, [small, oom, rerouted, Attempt(4, "base", BuildOutcome.Succeeded, 110)]);
        Assert.Equal("base", later.Lane.Name);
    }

    [Fact]
    public void Nearest_rank_percentile()
    {
        Assert.Equal(5, LaneRecommender.NearestRank([5], 0.9));
        Assert.Equal(9, LaneRecommender.NearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9));
        Assert.Equal(1, LaneRecommender.NearestRank([1, 2], 0.5));
        Assert.Equal(2, LaneRecommender.NearestRank([1, 2], 0.51));
    }

    [Fact]
    public void Lane_sets_order_by_memory_and_reject_bad_lanes()
    {
        Assert.Equal(["base", "heavy"], Lanes.All.Select(l => l.Name));
        Assert.Equal("heavy", Lanes.NextLarger(Lanes.Get("base"))!.Name);
        Assert.Null(Lanes.NextLarger(Lanes.Get("heavy")));
        Assert.Equal(CacheError.Invalid, Assert.Throws<CacheException>(() => Lanes.Get("nope")).Error);
        Assert.Throws<CacheException>(() => new LaneSet([]));
        Assert.Throws<CacheException>(() => new LaneSet([new Lane("a", 1, 0, 1, "a")]));
        Assert.Equal(["tinyland-nix", "tinyland-nix-heavy"], new LaneSet(Lane.Defaults).All.Select(l => l.Name));
    }
}
