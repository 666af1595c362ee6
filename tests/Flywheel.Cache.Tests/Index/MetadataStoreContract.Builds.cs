using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Index;

/// <summary>The contract's part for Nix builds: the queue (exclusive takes), updates, listing and attempt history.</summary>
public abstract partial class MetadataStoreContract
{
    private BuildRecord NewBuild(string id, string lane = "small", string installable = "./default.nix#hello", int secondsAgo = 0) => new(
        Id: id,
        Cache: "main",
        Installable: installable,
        Lane: lane,
        LaneReason: "asked for",
        Status: BuildStatus.Queued,
        Attempt: 0,
        RequestedAt: Time.GetUtcNow().AddSeconds(-secondsAgo),
        StartedAt: null,
        FinishedAt: null,
        Worker: null,
        Outputs: [],
        LogPath: null,
        Error: null);

    private BuildAttemptRecord NewAttempt(string buildId, int attempt, BuildOutcome outcome, long peak, string installable = "./default.nix#hello") => new(
        BuildId: buildId,
        Attempt: attempt,
        Installable: installable,
        Lane: "small",
        Outcome: outcome,
        ExitCode: outcome == BuildOutcome.OutOfMemory ? 137 : 0,
        PeakMemoryBytes: peak,
        MemoryLimit: "cgroup-v1",
        BuiltPaths: 2,
        SubstitutedPaths: 1,
        Phases: [new BuildPhase("bootstrap", TimeSpan.FromMilliseconds(120), true), new BuildPhase("build", TimeSpan.FromSeconds(3), outcome == BuildOutcome.Succeeded)],
        StartedAt: Time.GetUtcNow(),
        FinishedAt: Time.GetUtcNow().AddSeconds(attempt));

    [Fact]
    public async Task A_build_is_stored_and_read_back()
    {
        var build = NewBuild("b1");
        await Store.EnqueueBuildAsync(build, None);

        Assert.Equal(build, (await Store.GetBuildAsync("b1", None))!, BuildComparer);
        Assert.Null(await Store.GetBuildAsync("nope", None));
        var e = await Assert.ThrowsAsync<CacheException>(() => Store.EnqueueBuildAsync(build, None));
        Assert.Equal(CacheError.Conflict, e.Error);
    }

    [Fact]
    public async Task Take_claims_the_oldest_queued_build_of_the_lanes_once()
    {
        await Store.EnqueueBuildAsync(NewBuild("new", secondsAgo: 1), None);
        await Store.EnqueueBuildAsync(NewBuild("old", secondsAgo: 5), None);
        await Store.EnqueueBuildAsync(NewBuild("heavy", lane: "large", secondsAgo: 9), None);

        var first = await Store.TakeBuildAsync(["small"], "w1", Time.GetUtcNow(), None);
        Assert.Equal(("old", BuildStatus.Running, 1, "w1"), (first!.Id, first.Status, first.Attempt, first.Worker));
        Assert.Equal(Time.GetUtcNow(), first.StartedAt);
        Assert.Equal("new", (await Store.TakeBuildAsync(["small"], "w2", Time.GetUtcNow(), None))!.Id);
        Assert.Null(await Store.TakeBuildAsync(["small"], "w1", Time.GetUtcNow(), None));
        Assert.Equal("heavy", (await Store.TakeBuildAsync(["small", "large"], "w1", Time.GetUtcNow(), None))!.Id);
        Assert.Equal(BuildStatus.Running, (await Store.GetBuildAsync("old", None))!.Status);
    }

    [Fact]
    public async Task Concurrent_takes_from_several_stores_never_hand_out_a_build_twice()
    {
        for (var i = 0; i < 40; i++)
        {
            await Store.EnqueueBuildAsync(NewBuild($"b{i:D2}", secondsAgo: i), None);
        }

        var stores = Enumerable.Range(0, 4).Select(_ => NewStore()).ToList();
        var taken = await Task.WhenAll(stores.Select((store, w) => Task.Run(async () =>
        {
            var mine = new List<string>();
            while (await store.TakeBuildAsync(["small"], $"w{w}", Time.GetUtcNow(), None) is { } build)
            {
                mine.Add(build.Id);
            }

            return mine;
        })));

        var all = taken.SelectMany(t => t).ToList();
        Assert.Equal(40, all.Count);
        Assert.Equal(40, all.Distinct().Count());
    }

    [Fact]
    public async Task An_update_changes_state_and_a_requeued_build_is_taken_again()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1"), None);
        var running = (await Store.TakeBuildAsync(["small"], "w1", Time.GetUtcNow(), None))!;

        var rerouted = running with { Lane = "large", LaneReason = "rerouted after an OOM kill on small", Status = BuildStatus.Queued, Worker = null };
        await Store.UpdateBuildAsync(rerouted, None);
        Assert.Null(await Store.TakeBuildAsync(["small"], "w1", Time.GetUtcNow(), None));
        var again = (await Store.TakeBuildAsync(["large"], "w2", Time.GetUtcNow(), None))!;
        Assert.Equal((2, "large", "w2"), (again.Attempt, again.Lane, again.Worker));

        var done = again with
        {
            Status = BuildStatus.Succeeded,
            FinishedAt = Time.GetUtcNow().AddSeconds(3),
            Outputs = ["/nix/store/00000000abcdfghijklmnpqrsvwxyz00-hello", "/nix/store/11111111abcdfghijklmnpqrsvwxyz00-hello-doc"],
            LogPath = "log/22222222abcdfghijklmnpqrsvwxyz00-hello.drv",
        };
        await Store.UpdateBuildAsync(done, None);
        Assert.Equal(done, (await Store.GetBuildAsync("b1", None))!, BuildComparer);

        var e = await Assert.ThrowsAsync<CacheException>(() => Store.UpdateBuildAsync(NewBuild("missing"), None));
        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task Builds_are_listed_newest_first_with_filters()
    {
        await Store.EnqueueBuildAsync(NewBuild("a", secondsAgo: 3), None);
        await Store.EnqueueBuildAsync(NewBuild("b", installable: "x#y", secondsAgo: 2), None);
        await Store.EnqueueBuildAsync(NewBuild("c", secondsAgo: 1), None);
        await Store.TakeBuildAsync(["small"], "w", Time.GetUtcNow(), None); // takes "a"

        Assert.Equal(["c", "b", "a"], (await Store.ListBuildsAsync(new BuildQuery(), None)).Select(b => b.Id));
        Assert.Equal(["c", "a"], (await Store.ListBuildsAsync(new BuildQuery(Installable: "./default.nix#hello"), None)).Select(b => b.Id));
        Assert.Equal(["a"], (await Store.ListBuildsAsync(new BuildQuery(Status: BuildStatus.Running), None)).Select(b => b.Id));
        Assert.Equal(["c"], (await Store.ListBuildsAsync(new BuildQuery(Cache: "main", Limit: 1), None)).Select(b => b.Id));
        Assert.Empty(await Store.ListBuildsAsync(new BuildQuery(Cache: "other"), None));
    }

    [Fact]
    public async Task Attempts_are_the_history_of_a_build_and_of_an_installable()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1"), None);
        await Store.EnqueueBuildAsync(NewBuild("b2", installable: "x#y"), None);
        var oom = NewAttempt("b1", 1, BuildOutcome.OutOfMemory, 9_000_000);
        var ok = NewAttempt("b1", 2, BuildOutcome.Succeeded, 12_000_000) with { Lane = "large", ExitCode = null, PeakMemoryBytes = null, MemoryLimit = "none: no cgroup" };
        await Store.AddBuildAttemptAsync(oom, None);
        await Store.AddBuildAttemptAsync(ok, None);
        await Store.AddBuildAttemptAsync(NewAttempt("b2", 1, BuildOutcome.Failed, 1, installable: "x#y"), None);

        var history = await Store.ListBuildAttemptsAsync(null, "./default.nix#hello", 10, None);
        Assert.Equal(2, history.Count);
        Assert.Equal(ok, history[0], AttemptComparer);
        Assert.Equal(oom, history[1], AttemptComparer);
        Assert.Equal([2, 1], (await Store.ListBuildAttemptsAsync("b1", null, 10, None)).Select(a => a.Attempt));
        Assert.Single(await Store.ListBuildAttemptsAsync(null, null, 1, None));
        Assert.Equal(3, (await Store.ListBuildAttemptsAsync(null, null, 10, None)).Count);

        var e = await Assert.ThrowsAsync<CacheException>(() => Store.AddBuildAttemptAsync(NewAttempt("nope", 1, BuildOutcome.Failed, 1), None));
        Assert.Equal(CacheError.NotFound, e.Error);
    }

    private static readonly RecordComparer<BuildRecord> BuildComparer = new(b => b with { Outputs = Array.Empty<string>() }, b => string.Join('|', b.Outputs));

    private static readonly RecordComparer<BuildAttemptRecord> AttemptComparer = new(a => a with { Phases = Array.Empty<BuildPhase>() }, a => string.Join('|', a.Phases));

    /// <summary>Records with list members compare by the lists' contents.</summary>
    private sealed class RecordComparer<T>(Func<T, T> withoutLists, Func<T, string> lists) : IEqualityComparer<T>
    {
        public bool Equals(T? x, T? y) =>
            x is not null && y is not null && withoutLists(x)!.Equals(withoutLists(y)) ? lists(x) == lists(y) : x is null && y is null;

        public int GetHashCode(T obj) => 0;
    }
}
