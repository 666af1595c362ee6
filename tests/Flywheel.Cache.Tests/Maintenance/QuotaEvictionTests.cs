using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Maintenance;

namespace Flywheel.Cache.Tests.Maintenance;

/// <summary>
/// <see cref="QuotaEviction"/> on its own, on the real disk store and SQLite index: which blobs a cache over its quota
/// stops using (least recently used first, only as many as bring it within the quota, none of another cache's).
/// </summary>
public sealed class QuotaEvictionTests() : MaintenanceTestBed(new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.Zero))
{
    /// <summary>Uploads a blob and lets a minute pass, so each upload is less recent than the next.</summary>
    private async Task<BazelDigest> PutThenWaitAsync(CacheContext cache, string seed, int size)
    {
        var digest = await PutAsync(cache, seed, size);
        Clock.Advance(TimeSpan.FromMinutes(1));
        return digest;
    }

    [Fact]
    public async Task Evicts_the_least_recently_used_first_and_stops_once_within_the_quota()
    {
        var cache = await Catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 250);
        var other = await Catalog.CreateAsync("other", isPublic: false, priority: 40, None);
        var blobs = new List<BazelDigest>();
        for (var i = 0; i < 5; i++)
        {
            blobs.Add(await PutThenWaitAsync(cache, $"blob {i}", 100));
        }

        // read order now, oldest first: 2, 3, 4, 0 (read again), 1 (read again, newest)
        Assert.NotNull(await Bazel.OpenAsync(cache, blobs[0], None));
        Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.NotNull(await Bazel.OpenAsync(cache, blobs[1], None));
        await Access.FlushAsync(None);
        Assert.Equal(blobs[2], await PutThenWaitAsync(other, "blob 2", 100)); // the other cache's use of the same bytes stays

        var (evicted, actions, after) = await new QuotaEviction(Metadata).RunAsync(await Record("bazel"), dryRun: false, None);

        // 500 bytes against a quota of 250: the three least recently used go, which leaves 200 (two would leave 300)
        Assert.Equal(new RemovedEntries(3, 300), evicted);
        Assert.Equal(RemovedEntries.None, actions);
        Assert.Equal(200, after);
        Assert.Equal([blobs[2], blobs[3], blobs[4]], await Bazel.FindMissingAsync(cache, blobs, None));
        Assert.Equal([blobs[0], blobs[1], blobs[3], blobs[4]], await Bazel.FindMissingAsync(other, blobs, None));
        var usage = await Metadata.GetCacheUsageAsync(cache.Id, None);
        Assert.Equal((2L, 200L), (usage.Blobs, usage.BlobBytes));
    }

    [Fact]
    public async Task A_dry_run_counts_the_same_blobs_and_removes_none()
    {
        var cache = await Catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 150);
        var blobs = new List<BazelDigest>();
        for (var i = 0; i < 3; i++)
        {
            blobs.Add(await PutThenWaitAsync(cache, $"blob {i}", 100));
        }

        var (evicted, _, after) = await new QuotaEviction(Metadata).RunAsync(await Record("bazel"), dryRun: true, None);

        Assert.Equal(new RemovedEntries(2, 200), evicted);
        Assert.Equal(100, after);
        Assert.Empty(await Bazel.FindMissingAsync(cache, blobs, None));
    }

    [Fact]
    public async Task A_cache_within_its_quota_or_without_one_keeps_everything()
    {
        var within = await Catalog.CreateAsync("within", isPublic: false, priority: 40, None, quotaBytes: 200);
        var unlimited = await Catalog.CreateAsync("unlimited", isPublic: false, priority: 40, None);
        var kept = new[] { await PutThenWaitAsync(within, "a", 100), await PutThenWaitAsync(within, "b", 100) };
        var alsoKept = new[] { await PutThenWaitAsync(unlimited, "c", 1000), await PutThenWaitAsync(unlimited, "d", 1000) };

        Assert.Equal((RemovedEntries.None, RemovedEntries.None, 200L), await new QuotaEviction(Metadata).RunAsync(await Record("within"), dryRun: false, None));
        Assert.Equal((RemovedEntries.None, RemovedEntries.None, 2000L), await new QuotaEviction(Metadata).RunAsync(await Record("unlimited"), dryRun: false, None));
        Assert.Empty(await Bazel.FindMissingAsync(within, kept, None));
        Assert.Empty(await Bazel.FindMissingAsync(unlimited, alsoKept, None));
    }

    private async Task<CacheRecord> Record(string name) => await Metadata.GetCacheAsync(name, None) ?? throw new InvalidOperationException(name);
}
