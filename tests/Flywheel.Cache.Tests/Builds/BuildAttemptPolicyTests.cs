using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Builds;

/// <summary>
/// What a worker does with a build after an attempt (<see cref="BuildAttemptPolicy"/>): an OOM kill reroutes to the next
/// larger lane once; a timeout, a failure, a second OOM kill or an OOM kill on the largest lane end the build.
/// </summary>
public sealed class BuildAttemptPolicyTests
{
    private const long Mib = 1024 * 1024;
    private static readonly Lane Small = new("small", 2, 512 * Mib, 1, "small");
    private static readonly Lane Medium = new("medium", 4, 1024 * Mib, 1, "medium");
    private static readonly Lane Large = new("large", 8, 2048 * Mib, 1, "large");
    private static readonly LaneSet Lanes = new([Large, Small, Medium]);
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 8, 0, 0, TimeSpan.Zero);

    private static BuildRecord Running(Lane lane, int attempt) => new(
        "b1", "main", "x.nix#y", lane.Name, "asked for", BuildStatus.Running, attempt, T0, T0, null, "worker-1", [], null, null,
        HeartbeatAt: T0, LeasedUntil: T0.AddMinutes(1), Phase: "build", PhaseStartedAt: T0);

    private static BuildAttemptResult Result(BuildOutcome outcome, IReadOnlyList<string>? outputs = null) => new(
        outcome, outcome == BuildOutcome.Succeeded ? 0 : 137, [], outputs ?? [], "/nix/store/aaaa-y.drv", 600 * Mib, "cgroup-v2", 1, 0, "/tmp/log",
        outcome == BuildOutcome.Succeeded ? null : "the build phase failed");

    private static BuildAttemptRecord Earlier(Lane lane, int attempt, BuildOutcome outcome) => new(
        "b1", attempt, "x.nix#y", lane.Name, outcome, 137, 600 * Mib, "cgroup-v2", 1, 0, [], T0.AddMinutes(-10), T0.AddMinutes(-5));

    [Fact]
    public void An_oom_kill_queues_the_build_again_on_the_next_larger_lane()
    {
        var (build, next) = BuildAttemptPolicy.After(Running(Small, 1), Small, Result(BuildOutcome.OutOfMemory), [], Lanes, "build-log/b1/1", T0);

        Assert.Equal(Medium, next);
        Assert.Equal("medium", build.Lane);
        Assert.Equal(BuildStatus.Queued, build.Status);
        Assert.Null(build.Worker);
        Assert.Null(build.LeasedUntil);
        Assert.Null(build.Phase);
        Assert.Null(build.FinishedAt);
        Assert.Equal(1, build.Attempt); // the next worker that takes it counts the next attempt
        Assert.StartsWith("rerouted: attempt 1 was killed for memory on small (peak 629145600 bytes, cgroup-v2)", build.LaneReason, StringComparison.Ordinal);
        Assert.Equal("build-log/b1/1", build.LogPath);
    }

    [Fact]
    public void A_second_oom_kill_ends_the_build_instead_of_rerouting_again()
    {
        var (build, next) = BuildAttemptPolicy.After(
            Running(Medium, 2), Medium, Result(BuildOutcome.OutOfMemory), [Earlier(Small, 1, BuildOutcome.OutOfMemory)], Lanes, null, T0);

        Assert.Null(next);
        Assert.Equal(BuildStatus.Failed, build.Status);
        Assert.Equal("medium", build.Lane);
        Assert.Equal(T0, build.FinishedAt);
    }

    [Fact]
    public void An_oom_kill_on_the_largest_lane_ends_the_build()
    {
        var (build, next) = BuildAttemptPolicy.After(Running(Large, 1), Large, Result(BuildOutcome.OutOfMemory), [], Lanes, null, T0);

        Assert.Null(next);
        Assert.Equal(BuildStatus.Failed, build.Status);
        Assert.Equal("large", build.Lane);
    }

    [Fact]
    public void A_timeout_is_never_rerouted()
    {
        var (build, next) = BuildAttemptPolicy.After(Running(Small, 1), Small, Result(BuildOutcome.TimedOut), [], Lanes, null, T0);

        Assert.Null(next);
        Assert.Equal(BuildStatus.Failed, build.Status);
        Assert.Equal("small", build.Lane);
        Assert.Equal("asked for", build.LaneReason);
        Assert.Equal("the build phase failed", build.Error);
    }

    [Fact]
    public void Lost_attempts_before_do_not_use_up_the_one_reroute()
    {
        var (build, next) = BuildAttemptPolicy.After(
            Running(Small, 3), Small, Result(BuildOutcome.OutOfMemory),
            [Earlier(Small, 1, BuildOutcome.Lost), Earlier(Small, 2, BuildOutcome.TimedOut)], Lanes, null, T0);

        Assert.Equal(Medium, next);
        Assert.Equal(BuildStatus.Queued, build.Status);
    }

    [Theory]
    [InlineData(BuildOutcome.Succeeded, BuildStatus.Succeeded)]
    [InlineData(BuildOutcome.Failed, BuildStatus.Failed)]
    public void Any_other_outcome_finishes_the_build_where_it_ran(BuildOutcome outcome, BuildStatus status)
    {
        var (build, next) = BuildAttemptPolicy.After(
            Running(Small, 1), Small, Result(outcome, ["/nix/store/bbbb-y"]), [], Lanes, "log/aaaa-y.drv", T0.AddMinutes(3));

        Assert.Null(next);
        Assert.Equal(status, build.Status);
        Assert.Equal("small", build.Lane);
        Assert.Equal(T0.AddMinutes(3), build.FinishedAt);
        Assert.Null(build.LeasedUntil);
        Assert.Null(build.Phase);
        Assert.Null(build.PhaseStartedAt);
        Assert.Equal(["/nix/store/bbbb-y"], build.Outputs);
        Assert.Equal("log/aaaa-y.drv", build.LogPath);
        Assert.Equal("worker-1", build.Worker); // the record keeps who ran it
    }
}
