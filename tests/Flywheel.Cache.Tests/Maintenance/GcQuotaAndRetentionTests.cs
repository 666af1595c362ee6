using System.Text;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Flywheel.Cache.Tests.Maintenance;

/// <summary>
/// Garbage collection with quotas (LRU eviction per cache) and Nix retention (pins and closures protected), on the
/// real disk store and SQLite index, with the clock under the test's control (days pass in a line).
/// </summary>
public sealed class GcQuotaAndRetentionTests() : MaintenanceTestBed(DateTimeOffset.UtcNow)
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);
    private readonly FlywheelMetrics _metrics = new(Prometheus.Metrics.NewCustomRegistry());

    private GarbageCollector Collector() => new(
        Blobs, Metadata, Metadata, Metadata, Metadata, Clock, new GcOptions(TimeSpan.Zero, Grace),
        _metrics, NullLogger<GarbageCollector>.Instance);

    private async Task<bool> StoredAsync(BazelDigest digest) => await Blobs.OpenAsync(digest.Hash, None) is not null;

    [Fact]
    public async Task A_cache_over_quota_evicts_its_least_recently_used_blobs_and_their_bytes_go_after_the_grace_period()
    {
        var bazel = await Catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 250);
        var other = await Catalog.CreateAsync("other", isPublic: false, priority: 40, None);
        var blobs = new List<BazelDigest>();
        for (var i = 0; i < 4; i++)
        {
            blobs.Add(await PutAsync(bazel, $"blob {i}", 100));
            Clock.Advance(TimeSpan.FromMinutes(1));
        }

        // blob 0 is read again (most recently used now); blob 1 is also uploaded to another cache (its bytes are
        // stored once). Finding a blob present only through another cache makes it no one else's.
        Assert.NotNull(await Bazel.OpenAsync(bazel, blobs[0], None));
        Assert.False(await Bazel.ExistsAsync(other, blobs[3], None));
        Assert.Equal(blobs[1], await PutAsync(other, "blob 1", 100));
        await Access.FlushAsync(None);
        Clock.Advance(Grace * 2);

        var report = await Collector().RunAsync(dryRun: false, None);

        Assert.Equal(new RemovedEntries(2, 200), report.Evicted);
        Assert.Equal(new RemovedEntries(1, 100), report.UnreferencedBlobs); // blob 2; blob 1 is the other cache's too
        Assert.Equal(1, report.OrphansRemoved);
        Assert.True(await StoredAsync(blobs[0]));
        Assert.True(await StoredAsync(blobs[1]));
        Assert.False(await StoredAsync(blobs[2]));
        Assert.True(await StoredAsync(blobs[3]));
        Assert.Equal([blobs[1], blobs[2]], await Bazel.FindMissingAsync(bazel, blobs, None));
        Assert.Equal([blobs[0], blobs[2], blobs[3]], await Bazel.FindMissingAsync(other, blobs, None));
        var usage = await Metadata.GetCacheUsageAsync(bazel.Id, None);
        Assert.Equal((2L, 200L), (usage.Blobs, usage.BlobBytes));

        var again = await Collector().RunAsync(dryRun: false, None);
        Assert.Equal(RemovedEntries.None, again.Evicted);
        Assert.Equal(0, again.OrphansRemoved);
    }

    [Fact]
    public async Task Eviction_takes_action_results_not_used_since_and_keeps_those_in_use_with_their_outputs()
    {
        var bazel = await Catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 150);
        var oldOutput = await PutAsync(bazel, "old output", 100);
        var oldAction = BazelDigest.Compute(Encoding.UTF8.GetBytes("old action"));
        await Bazel.UpdateActionResultAsync(bazel, oldAction, ResultWith(oldOutput), None);
        Clock.Advance(TimeSpan.FromMinutes(5));
        var usedOutput = await PutAsync(bazel, "used output", 100);
        var usedAction = BazelDigest.Compute(Encoding.UTF8.GetBytes("used action"));
        await Bazel.UpdateActionResultAsync(bazel, usedAction, ResultWith(usedOutput), None);
        Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.NotNull(await Bazel.GetActionResultAsync(bazel, usedAction, None)); // a hit keeps the entry and its outputs fresh
        await Access.FlushAsync(None);
        Clock.Advance(Grace * 2);

        var report = await Collector().RunAsync(dryRun: false, None);

        Assert.Equal(new RemovedEntries(1, 100), report.Evicted);
        Assert.Equal(1, report.ActionResultsEvicted.Count);
        Assert.Null(await Metadata.GetActionResultAsync(bazel.Id, oldAction.Hash, None));
        Assert.NotNull(await Bazel.GetActionResultAsync(bazel, usedAction, None));
        Assert.False(await StoredAsync(oldOutput));
        Assert.True(await StoredAsync(usedOutput));
    }

    [Fact]
    public async Task Without_quota_or_retention_nothing_referenced_is_removed()
    {
        var main = await Catalog.CreateAsync("main", isPublic: true, priority: 40, None);
        var blob = await PutAsync(main, "kept", 5000);
        await NixPathAsync(main, "kept-path", "");
        Clock.Advance(TimeSpan.FromDays(400));

        var report = await Collector().RunAsync(dryRun: false, None);

        Assert.Equal(RemovedEntries.None, report.Evicted);
        Assert.Equal(RemovedEntries.None, report.NarInfosExpired);
        Assert.Equal(RemovedEntries.None, report.UnreferencedBlobs);
        Assert.Equal(0, report.OrphansRemoved);
        Assert.True(await StoredAsync(blob));
        Assert.NotNull(await Metadata.GetNarInfoAsync(main.Id, Hash("kept-path"), None));
    }

    [Fact]
    public async Task Retention_removes_expired_paths_but_never_pinned_ones_or_the_closure_of_kept_ones()
    {
        var nix = await Catalog.CreateAsync("nix", isPublic: true, priority: 40, None, retention: TimeSpan.FromDays(7));
        var pins = new CachePins(Metadata, Clock);
        var expired = await NixPathAsync(nix, "expired", "");
        var depOfFresh = await NixPathAsync(nix, "dep-of-fresh", "");
        var fresh = await NixPathAsync(nix, "fresh", BaseName("dep-of-fresh"));
        var depOfPinned = await NixPathAsync(nix, "dep-of-pinned", "");
        var pinned = await NixPathAsync(nix, "pinned", BaseName("dep-of-pinned") + " " + BaseName("pinned"));
        await pins.PinAsync(nix, "/nix/store/" + BaseName("pinned"), "release", None);
        Clock.Advance(TimeSpan.FromDays(8));
        await Metadata.TouchNarInfosAsync(nix.Id, [Hash("fresh")], Clock.GetUtcNow(), None);

        var dry = await Collector().RunAsync(dryRun: true, None);
        Assert.Equal(new RemovedEntries(1, expired.Size), dry.NarInfosExpired);
        Assert.NotNull(await Metadata.GetNarInfoAsync(nix.Id, Hash("expired"), None));

        var report = await Collector().RunAsync(dryRun: false, None);

        Assert.Equal(new RemovedEntries(1, expired.Size), report.NarInfosExpired);
        Assert.Equal(1, report.NarFilesRemoved.Count);
        Assert.Null(await Metadata.GetNarInfoAsync(nix.Id, Hash("expired"), None));
        Assert.Null(await Metadata.GetNarFileAsync(nix.Id, expired.Digest, None));
        Assert.Null(await Blobs.OpenAsync(expired.Digest, None));
        foreach (var (name, blob) in new[] { ("dep-of-fresh", depOfFresh), ("fresh", fresh), ("dep-of-pinned", depOfPinned), ("pinned", pinned) })
        {
            Assert.NotNull(await Metadata.GetNarInfoAsync(nix.Id, Hash(name), None));
            Assert.NotNull(await Blobs.OpenAsync(blob.Digest, None));
        }

        await pins.UnpinAsync(nix, Hash("pinned"), None);
        var after = await Collector().RunAsync(dryRun: false, None);
        Assert.Equal(2, after.NarInfosExpired.Count); // pinned and its dependency, now unprotected
    }

    [Fact]
    public async Task A_dry_run_reports_evictions_and_changes_nothing()
    {
        var bazel = await Catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 100);
        var first = await PutAsync(bazel, "first", 100);
        Clock.Advance(TimeSpan.FromMinutes(1));
        await PutAsync(bazel, "second", 100);
        Clock.Advance(Grace * 2);

        var report = await Collector().RunAsync(dryRun: true, None);

        Assert.True(report.DryRun);
        Assert.Equal(new RemovedEntries(1, 100), report.Evicted);
        Assert.Equal(2, (await Metadata.GetCacheUsageAsync(bazel.Id, None)).Blobs);
        Assert.True(await StoredAsync(first));
    }

    private static Build.Bazel.Remote.Execution.V2.ActionResult ResultWith(BazelDigest output) => new()
    {
        OutputFiles = { new Build.Bazel.Remote.Execution.V2.OutputFile { Path = "out", Digest = output.ToProto() } },
    };

    private static string Hash(string name) => Flywheel.Cache.Nix.NixBase32.Encode(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(name))[..20]);

    private static string BaseName(string name) => $"{Hash(name)}-{name}";

    /// <summary>A narinfo with its NAR record and stored NAR blob, as a push leaves them.</summary>
    private async Task<(BlobDigest Digest, long Size)> NixPathAsync(CacheContext cache, string name, string references)
    {
        var nar = Encoding.UTF8.GetBytes("nar of " + name);
        var commit = await Blobs.WriteAsync(nar, BlobDigest.Compute(nar), None);
        var now = Clock.GetUtcNow();
        await Metadata.RecordBlobAsync(commit.Digest, commit.Size, now, None);
        await Metadata.PutNarFileAsync(cache.Id, new NarFileRecord(commit.Digest, "none", commit.Size, "sha256:" + name, commit.Size, now), None);
        await Metadata.PutNarInfoAsync(cache.Id, new NarInfoRecord(
            Hash(name), "/nix/store/" + BaseName(name), commit.Digest, commit.Size, "sha256:" + name, commit.Size, references, null,
            Encoding.UTF8.GetBytes("StorePath: /nix/store/" + BaseName(name) + "\n"), now, now), None);
        return (commit.Digest, commit.Size);
    }
}
