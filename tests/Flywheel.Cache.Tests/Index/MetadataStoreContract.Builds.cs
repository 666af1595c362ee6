using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Index;

/// <summary>The contract's part for Nix builds: the queue (exclusive takes), leases and their reclaim, finishing attempts, listing and attempt history.</summary>
public abstract partial class MetadataStoreContract
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private Task<BuildRecord?> TakeAsync(IReadOnlyCollection<string> lanes, string worker, IMetadataIndex? store = null) =>
        (store ?? Store).TakeBuildAsync(lanes, worker, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None);

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

        var first = await TakeAsync(["small"], "w1");
        Assert.Equal(("old", BuildStatus.Running, 1, "w1"), (first!.Id, first.Status, first.Attempt, first.Worker));
        Assert.Equal(Time.GetUtcNow(), first.StartedAt);
        Assert.Equal("new", (await TakeAsync(["small"], "w2"))!.Id);
        Assert.Null(await TakeAsync(["small"], "w1"));
        Assert.Equal("heavy", (await TakeAsync(["small", "large"], "w1"))!.Id);
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
            while (await TakeAsync(["small"], $"w{w}", store) is { } build)
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
    public async Task Finishing_an_attempt_stores_the_state_and_the_attempt_and_a_requeued_build_is_taken_again()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1"), None);
        var running = (await TakeAsync(["small"], "w1"))!;
        Assert.Equal((Time.GetUtcNow(), Time.GetUtcNow() + Lease), (running.HeartbeatAt, running.LeasedUntil));

        var rerouted = running with { Lane = "large", LaneReason = "rerouted after an OOM kill on small", Status = BuildStatus.Queued, Worker = null, LeasedUntil = null };
        await Store.FinishBuildAttemptAsync(rerouted, "w1", NewAttempt("b1", 1, BuildOutcome.OutOfMemory, 9_000_000), None);
        Assert.Equal(rerouted, (await Store.GetBuildAsync("b1", None))!, BuildComparer);
        Assert.Null(await TakeAsync(["small"], "w1"));
        var again = (await TakeAsync(["large"], "w2"))!;
        Assert.Equal((2, "large", "w2"), (again.Attempt, again.Lane, again.Worker));

        var done = again with
        {
            Status = BuildStatus.Succeeded,
            FinishedAt = Time.GetUtcNow().AddSeconds(3),
            LeasedUntil = null,
            Outputs = ["/nix/store/00000000abcdfghijklmnpqrsvwxyz00-hello", "/nix/store/11111111abcdfghijklmnpqrsvwxyz00-hello-doc"],
            LogPath = "log/22222222abcdfghijklmnpqrsvwxyz00-hello.drv",
        };
        await Store.FinishBuildAttemptAsync(done, "w2", NewAttempt("b1", 2, BuildOutcome.Succeeded, 12_000_000), None);
        Assert.Equal(done, (await Store.GetBuildAsync("b1", None))!, BuildComparer);
        Assert.Equal([BuildOutcome.Succeeded, BuildOutcome.OutOfMemory], (await Store.ListBuildAttemptsAsync("b1", null, 10, None)).Select(a => a.Outcome));

        var e = await Assert.ThrowsAsync<CacheException>(() => Store.FinishBuildAttemptAsync(NewBuild("missing"), "w1", null, None));
        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task A_lease_is_renewed_only_by_the_worker_and_attempt_that_hold_it()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1"), None);
        var running = (await TakeAsync(["small"], "w1"))!;

        Time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await Store.RenewBuildLeaseAsync("b1", "w1", 1, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None));
        Assert.False(await Store.RenewBuildLeaseAsync("b1", "w2", 1, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None));
        Assert.False(await Store.RenewBuildLeaseAsync("b1", "w1", 2, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None));
        Assert.False(await Store.RenewBuildLeaseAsync("nope", "w1", 1, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None));
        var renewed = (await Store.GetBuildAsync("b1", None))!;
        Assert.Equal((Time.GetUtcNow(), Time.GetUtcNow() + Lease), (renewed.HeartbeatAt, renewed.LeasedUntil));

        Assert.True(await Store.SetBuildPhaseAsync("b1", "w1", 1, "evaluation", Time.GetUtcNow(), None));
        Assert.False(await Store.SetBuildPhaseAsync("b1", "w2", 1, "build", Time.GetUtcNow(), None));
        var phased = (await Store.GetBuildAsync("b1", None))!;
        Assert.Equal(("evaluation", Time.GetUtcNow()), (phased.Phase, phased.PhaseStartedAt));

        // 35 s after the take: the first lease would have ended, the renewed one has not
        Time.Advance(TimeSpan.FromSeconds(25));
        Assert.Empty(await Store.ReclaimExpiredBuildsAsync(Time.GetUtcNow(), 3, None));
        Assert.Equal(BuildStatus.Running, (await Store.GetBuildAsync("b1", None))!.Status);
        Assert.Equal(running.StartedAt, (await Store.GetBuildAsync("b1", None))!.StartedAt);
    }

    [Fact]
    public async Task An_expired_lease_requeues_the_build_records_the_attempt_lost_and_locks_out_its_old_worker()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1"), None);
        await Store.EnqueueBuildAsync(NewBuild("b2", secondsAgo: 1), None);
        var stale = (await TakeAsync(["small"], "w1"))!; // b2, the older
        var fresh = (await TakeAsync(["small"], "w2"))!;
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.True(await Store.RenewBuildLeaseAsync(fresh.Id, "w2", 1, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None));

        Time.Advance(TimeSpan.FromSeconds(11)); // w1's lease ended a second ago; w2's holds
        var reclaimed = Assert.Single(await Store.ReclaimExpiredBuildsAsync(Time.GetUtcNow(), 3, None));
        Assert.Equal(("b2", BuildStatus.Queued, 1, "w1", (DateTimeOffset?)null), (reclaimed.Id, reclaimed.Status, reclaimed.Attempt, reclaimed.Worker, reclaimed.LeasedUntil));
        Assert.Contains("attempt 1 on small was lost: worker w1 stopped renewing its lease", reclaimed.Error, StringComparison.Ordinal);
        Assert.EndsWith("queued again", reclaimed.Error, StringComparison.Ordinal);
        Assert.Equal(reclaimed, (await Store.GetBuildAsync("b2", None))!, BuildComparer);
        var lost = Assert.Single(await Store.ListBuildAttemptsAsync("b2", null, 10, None));
        Assert.Equal((1, "small", BuildOutcome.Lost, stale.StartedAt!.Value, Time.GetUtcNow()), (lost.Attempt, lost.Lane, lost.Outcome, lost.StartedAt, lost.FinishedAt));
        Assert.Empty(await Store.ReclaimExpiredBuildsAsync(Time.GetUtcNow(), 3, None));

        var retaken = (await TakeAsync(["small"], "w3"))!;
        Assert.Equal(("b2", 2, "w3"), (retaken.Id, retaken.Attempt, retaken.Worker));
        Assert.False(await Store.RenewBuildLeaseAsync("b2", "w1", 1, Time.GetUtcNow(), Time.GetUtcNow() + Lease, None));
        var late = stale with { Status = BuildStatus.Succeeded, FinishedAt = Time.GetUtcNow(), LeasedUntil = null };
        var e = await Assert.ThrowsAsync<CacheException>(() => Store.FinishBuildAttemptAsync(late, "w1", NewAttempt("b2", 1, BuildOutcome.Succeeded, 1), None));
        Assert.Equal(CacheError.Conflict, e.Error);
        Assert.Contains("no longer holds build 'b2'", e.Message, StringComparison.Ordinal);
        Assert.Equal(retaken, (await Store.GetBuildAsync("b2", None))!, BuildComparer);
        Assert.Single(await Store.ListBuildAttemptsAsync("b2", null, 10, None)); // nothing of the late result was written

        await Store.FinishBuildAttemptAsync(retaken with { Status = BuildStatus.Succeeded, FinishedAt = Time.GetUtcNow(), LeasedUntil = null }, "w3",
            NewAttempt("b2", 2, BuildOutcome.Succeeded, 1), None);
        Assert.Equal([BuildOutcome.Succeeded, BuildOutcome.Lost], (await Store.ListBuildAttemptsAsync("b2", null, 10, None)).Select(a => a.Outcome));
    }

    [Fact]
    public async Task A_build_lost_too_often_is_given_up_with_status_lost()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1"), None);
        for (var i = 1; i <= 2; i++)
        {
            Assert.Equal(i, (await TakeAsync(["small"], $"w{i}"))!.Attempt);
            Time.Advance(Lease + TimeSpan.FromSeconds(1));
            var reclaimed = Assert.Single(await Store.ReclaimExpiredBuildsAsync(Time.GetUtcNow(), 2, None));
            Assert.Equal(i == 1 ? BuildStatus.Queued : BuildStatus.Lost, reclaimed.Status);
        }

        var given = (await Store.GetBuildAsync("b1", None))!;
        Assert.Equal((BuildStatus.Lost, Time.GetUtcNow()), (given.Status, given.FinishedAt));
        Assert.EndsWith("given up after 2 lost attempt(s)", given.Error, StringComparison.Ordinal);
        Assert.Null(await TakeAsync(["small"], "w3"));
        Assert.Equal(["b1"], (await Store.ListBuildsAsync(new BuildQuery(Status: BuildStatus.Lost), None)).Select(b => b.Id));
        Assert.Equal([2, 1], (await Store.ListBuildAttemptsAsync("b1", null, 10, None)).Select(a => a.Attempt));
    }

    [Fact]
    public async Task Concurrent_reclaims_from_several_stores_record_each_lost_attempt_once()
    {
        for (var i = 0; i < 12; i++)
        {
            await Store.EnqueueBuildAsync(NewBuild($"b{i:D2}", secondsAgo: i), None);
            await TakeAsync(["small"], "dead");
        }

        Time.Advance(Lease + TimeSpan.FromSeconds(1));
        var stores = Enumerable.Range(0, 4).Select(_ => NewStore()).ToList();
        var reclaimed = await Task.WhenAll(stores.Select(store => Task.Run(() => store.ReclaimExpiredBuildsAsync(Time.GetUtcNow(), 3, None))));

        Assert.Equal(12, reclaimed.SelectMany(r => r).Select(b => b.Id).Distinct().Count());
        Assert.Equal(12, reclaimed.Sum(r => r.Count));
        Assert.Equal(12, (await Store.ListBuildAttemptsAsync(null, null, 100, None)).Count(a => a.Outcome == BuildOutcome.Lost));
        Assert.Equal(12, (await Store.ListBuildsAsync(new BuildQuery(Status: BuildStatus.Queued), None)).Count);
    }

    [Fact]
    public async Task Active_builds_are_counted_per_lane_and_status()
    {
        Assert.Empty(await Store.CountActiveBuildsAsync(None));
        await Store.EnqueueBuildAsync(NewBuild("a", secondsAgo: 3), None);
        await Store.EnqueueBuildAsync(NewBuild("b", secondsAgo: 2), None);
        await Store.EnqueueBuildAsync(NewBuild("c", secondsAgo: 1), None);
        await Store.EnqueueBuildAsync(NewBuild("d", lane: "large"), None);
        var taken = (await TakeAsync(["small"], "w"))!;
        await TakeAsync(["small"], "w");
        await Store.FinishBuildAttemptAsync(taken with { Status = BuildStatus.Succeeded, LeasedUntil = null }, "w", null, None);

        var counts = await Store.CountActiveBuildsAsync(None);
        Assert.Equal(
            [new BuildCount("large", BuildStatus.Queued, 1), new BuildCount("small", BuildStatus.Queued, 1), new BuildCount("small", BuildStatus.Running, 1)],
            counts.OrderBy(c => c.Lane, StringComparer.Ordinal).ThenBy(c => c.Status));
    }

    [Fact]
    public async Task Builds_are_listed_newest_first_with_filters()
    {
        await Store.EnqueueBuildAsync(NewBuild("a", secondsAgo: 3), None);
        await Store.EnqueueBuildAsync(NewBuild("b", installable: "x#y", secondsAgo: 2), None);
        await Store.EnqueueBuildAsync(NewBuild("c", secondsAgo: 1), None);
        await TakeAsync(["small"], "w"); // takes "a"

        Assert.Equal(["c", "b", "a"], (await Store.ListBuildsAsync(new BuildQuery(), None)).Select(b => b.Id));
        Assert.Equal(["c", "a"], (await Store.ListBuildsAsync(new BuildQuery(Installable: "./default.nix#hello"), None)).Select(b => b.Id));
        Assert.Equal(["a"], (await Store.ListBuildsAsync(new BuildQuery(Status: BuildStatus.Running), None)).Select(b => b.Id));
        Assert.Equal(["c"], (await Store.ListBuildsAsync(new BuildQuery(Cache: "main", Limit: 1), None)).Select(b => b.Id));
        Assert.Empty(await Store.ListBuildsAsync(new BuildQuery(Cache: "other"), None));
    }

    [Fact]
    public async Task Attempts_are_the_history_of_a_build_and_of_an_installable()
    {
        await Store.EnqueueBuildAsync(NewBuild("b1", secondsAgo: 1), None);
        await Store.EnqueueBuildAsync(NewBuild("b2", installable: "x#y"), None);
        var oom = NewAttempt("b1", 1, BuildOutcome.OutOfMemory, 9_000_000);
        var ok = NewAttempt("b1", 2, BuildOutcome.Succeeded, 12_000_000) with { Lane = "large", ExitCode = null, PeakMemoryBytes = null, MemoryLimit = "none: no cgroup" };
        var b1 = (await TakeAsync(["small"], "w"))!;
        await Store.FinishBuildAttemptAsync(b1 with { Lane = "large", Status = BuildStatus.Queued }, "w", oom, None);
        b1 = (await TakeAsync(["large"], "w"))!;
        await Store.FinishBuildAttemptAsync(b1 with { Status = BuildStatus.Succeeded }, "w", ok, None);
        var b2 = (await TakeAsync(["small"], "w"))!;
        await Store.FinishBuildAttemptAsync(b2 with { Status = BuildStatus.Failed }, "w", NewAttempt("b2", 1, BuildOutcome.Failed, 1, installable: "x#y"), None);

        var history = await Store.ListBuildAttemptsAsync(null, "./default.nix#hello", 10, None);
        Assert.Equal(2, history.Count);
        Assert.Equal(ok, history[0], AttemptComparer);
        Assert.Equal(oom, history[1], AttemptComparer);
        Assert.Equal([2, 1], (await Store.ListBuildAttemptsAsync("b1", null, 10, None)).Select(a => a.Attempt));
        Assert.Single(await Store.ListBuildAttemptsAsync(null, null, 1, None));
        Assert.Equal(3, (await Store.ListBuildAttemptsAsync(null, null, 10, None)).Count);
    }

    [Fact]
    public async Task Attempts_are_paged_by_installable_and_the_lanes_report_reads_them_all()
    {
        var expected = new List<BuildAttemptRecord>();
        for (var i = 0; i < 7; i++)
        {
            var installable = $"./{(char)('a' + (i % 3))}.nix#x";
            await Store.EnqueueBuildAsync(NewBuild($"b{i}", lane: "small", installable: installable), None);
            var build = (await TakeAsync(["small"], "w"))!;
            var attempt = NewAttempt(build.Id, 1, i == 3 ? BuildOutcome.OutOfMemory : BuildOutcome.Succeeded, 1000 + i, installable) with
            {
                FinishedAt = Time.GetUtcNow().AddSeconds(10 - i),
            };
            await Store.FinishBuildAttemptAsync(build with { Status = BuildStatus.Succeeded, LeasedUntil = null }, "w", attempt, None);
            expected.Add(attempt);
        }

        var paged = new List<BuildAttemptRecord>();
        BuildAttemptRecord? after = null;
        while (await Store.ListBuildAttemptsByInstallableAsync(after, 2, None) is { Count: > 0 } page)
        {
            Assert.True(page.Count <= 2);
            paged.AddRange(page);
            after = page[^1];
        }

        Assert.Equal(
            expected.OrderBy(a => a.Installable, StringComparer.Ordinal).ThenBy(a => a.FinishedAt).Select(a => a.BuildId),
            paged.Select(a => a.BuildId));

        var lanes = new Flywheel.Cache.Builds.LaneSet([new Flywheel.Cache.Builds.Lane("small", 1, 1L << 30, 1, "small")]);
        var whole = Flywheel.Cache.Builds.LanesReport.From(lanes, expected);
        var read = await Flywheel.Cache.Builds.LanesReport.ReadAsync(Store, lanes, None, pageSize: 2);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(whole), System.Text.Json.JsonSerializer.Serialize(read));
        Assert.Equal([3, 2, 2], read.Installables.Select(i => i.Attempts));
        Assert.Equal(1, read.Installables[0].OutOfMemoryKills);
    }

    [Fact]
    public async Task Workers_are_live_on_their_lanes_from_their_last_poll_until_they_stop_or_are_forgotten()
    {
        var now = Time.GetUtcNow();
        var forget = now - TimeSpan.FromDays(1);
        await Store.RecordBuildWorkerAsync("host-a/1", "host-a", ["small", "big"], now, forget, None);
        await Store.RecordBuildWorkerAsync("host-b/2", "host-b", ["big"], now.AddSeconds(-30), forget, None);

        var live = await Store.ListBuildWorkersAsync(now.AddSeconds(-10), None);
        Assert.Equal([("big", "host-a/1", "host-a"), ("small", "host-a/1", "host-a")], live.Select(w => (w.Lane, w.Worker, w.Host)));
        Assert.All(live, w => Assert.Equal(now.ToUnixTimeMilliseconds(), w.LastSeen.ToUnixTimeMilliseconds()));

        // a later poll moves its worker's last-seen time: still one row per worker and lane
        await Store.RecordBuildWorkerAsync("host-b/2", "host-b", ["big"], now.AddSeconds(1), forget, None);
        live = await Store.ListBuildWorkersAsync(now.AddSeconds(-10), None);
        Assert.Equal([("big", "host-a/1"), ("big", "host-b/2"), ("small", "host-a/1")], live.Select(w => (w.Lane, w.Worker)));
        Assert.Equal(now.AddSeconds(1).ToUnixTimeMilliseconds(), live.Single(w => w.Worker == "host-b/2").LastSeen.ToUnixTimeMilliseconds());

        // a worker that stops is gone on every lane; one not seen before the forget time goes with the next poll of any worker
        await Store.RemoveBuildWorkerAsync("host-a/1", None);
        Assert.Equal(["host-b/2"], (await Store.ListBuildWorkersAsync(DateTimeOffset.UnixEpoch, None)).Select(w => w.Worker));
        await Store.RecordBuildWorkerAsync("host-c/3", "host-c", ["small"], now.AddDays(2), now.AddDays(1), None);
        Assert.Equal(["host-c/3"], (await Store.ListBuildWorkersAsync(DateTimeOffset.UnixEpoch, None)).Select(w => w.Worker));
    }

    [Fact]
    public async Task A_timed_out_attempt_is_stored_as_a_timeout()
    {
        var build = NewBuild("slow");
        await Store.EnqueueBuildAsync(build, None);
        var taken = (await TakeAsync(["small"], "w"))!;
        var attempt = NewAttempt("slow", taken.Attempt, BuildOutcome.TimedOut, 1 << 20);
        await Store.FinishBuildAttemptAsync(taken with { Status = BuildStatus.Failed, LeasedUntil = null }, "w", attempt, None);

        Assert.Equal(BuildOutcome.TimedOut, (await Store.ListBuildAttemptsAsync("slow", null, 10, None)).Single().Outcome);
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
