using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Index;

/// <summary>The contract's part for garbage collection: quotas, per-cache blobs, pins, retention and unreferenced blobs.</summary>
public abstract partial class MetadataStoreContract
{
    private async Task RecordAsync(long cache, int seed, long size, DateTimeOffset when)
    {
        await Store.RecordBlobAsync(Digest(seed), size, when, None);
        await Store.AddCacheBlobsAsync(cache, [Digest(seed)], when, None);
    }

    [Fact]
    public async Task A_quota_is_stored_changed_and_removed()
    {
        var created = await Store.CreateCacheAsync(NewCache("bazel") with { QuotaBytes = 1L << 30 }, None);
        Assert.Equal(1L << 30, created.QuotaBytes);
        Assert.Equal(1L << 30, (await Store.GetCacheAsync("bazel", None))!.QuotaBytes);

        var changed = await Store.UpdateCacheAsync(created with { QuotaBytes = 5000, Retention = TimeSpan.FromDays(3) }, None);
        Assert.Equal((5000L, TimeSpan.FromDays(3)), (changed.QuotaBytes!.Value, changed.Retention!.Value));

        var removed = await Store.UpdateCacheAsync(changed with { QuotaBytes = null }, None);
        Assert.Null(removed.QuotaBytes);
        Assert.Null((await Store.ListCachesAsync(None)).Single().QuotaBytes);
    }

    [Fact]
    public async Task Cache_blobs_are_listed_least_recently_used_first_and_page_by_page()
    {
        var cache = await CreateCacheIdAsync();
        var other = await CreateCacheIdAsync("other");
        var start = Time.GetUtcNow();
        for (var i = 0; i < 5; i++)
        {
            await RecordAsync(cache, i, 100 + i, start.AddMinutes(10 - i)); // 4 is the oldest
        }

        await Store.AddCacheBlobsAsync(other, [Digest(4)], start.AddDays(1), None); // another cache's use is its own

        var all = await Store.ListLeastRecentCacheBlobsAsync(cache, null, 10, None);
        Assert.Equal([Digest(4), Digest(3), Digest(2), Digest(1), Digest(0)], all.Select(e => e.Digest));
        Assert.Equal(104, all[0].Size);
        Assert.Equal(start.AddMinutes(6), all[0].LastAccess);

        var first = await Store.ListLeastRecentCacheBlobsAsync(cache, null, 2, None);
        var second = await Store.ListLeastRecentCacheBlobsAsync(cache, first[^1], 2, None);
        var third = await Store.ListLeastRecentCacheBlobsAsync(cache, second[^1], 2, None);
        Assert.Equal(all.Select(e => e.Digest), first.Concat(second).Concat(third).Select(e => e.Digest));
        Assert.Empty(await Store.ListLeastRecentCacheBlobsAsync(cache, third[^1], 2, None));
        Assert.Equal([Digest(4)], (await Store.ListLeastRecentCacheBlobsAsync(other, null, 10, None)).Select(e => e.Digest));
    }

    [Fact]
    public async Task Removing_cache_blobs_skips_those_accessed_since_they_were_listed()
    {
        var cache = await CreateCacheIdAsync();
        for (var i = 0; i < 3; i++)
        {
            await RecordAsync(cache, i, 10, Time.GetUtcNow());
        }

        var listed = await Store.ListLeastRecentCacheBlobsAsync(cache, null, 10, None);
        await Store.AddCacheBlobsAsync(cache, [Digest(1)], Time.GetUtcNow().AddMinutes(1), None); // read meanwhile

        var removed = await Store.RemoveCacheBlobsAsync(cache, listed, None);

        Assert.Equal(new RemovedEntries(2, 20), removed);
        Assert.Equal([Digest(1)], (await Store.ListLeastRecentCacheBlobsAsync(cache, null, 10, None)).Select(e => e.Digest));
        Assert.Equal(RemovedEntries.None, await Store.RemoveCacheBlobsAsync(cache, [], None));
        Assert.Empty(await Store.FindMissingBlobsAsync([Digest(0), Digest(2)], None)); // the blobs themselves stay recorded
    }

    [Fact]
    public async Task Action_results_are_touched_forward_only_and_removed_by_last_access()
    {
        var cache = await CreateCacheIdAsync();
        var start = Time.GetUtcNow();
        await Store.PutActionResultAsync(cache, Digest("old"), new byte[] { 1, 2, 3 }, start, None);
        await Store.PutActionResultAsync(cache, Digest("used"), new byte[] { 4, 5 }, start, None);
        await Store.TouchActionResultsAsync(cache, [Digest("used"), Digest("unknown")], start.AddHours(2), None);
        await Store.TouchActionResultsAsync(cache, [Digest("used")], start.AddHours(1), None);

        Assert.Equal(RemovedEntries.None, await Store.RemoveActionResultsAsync(cache, start, None));
        Assert.Equal(new RemovedEntries(1, 3), await Store.RemoveActionResultsAsync(cache, start.AddHours(2), None));

        Assert.Null(await Store.GetActionResultAsync(cache, Digest("old"), None));
        Assert.NotNull(await Store.GetActionResultAsync(cache, Digest("used"), None));
        Assert.Equal(1, (await Store.GetCacheUsageAsync(cache, None)).ActionResults);
    }

    [Fact]
    public async Task Pins_are_added_once_listed_and_removed()
    {
        var cache = await CreateCacheIdAsync();
        await Store.PinAsync(cache, StorePathHash(2), "release 1.0", Time.GetUtcNow(), None);
        await Store.PinAsync(cache, StorePathHash(2), "again", Time.GetUtcNow().AddDays(1), None);
        await Store.PinAsync(cache, StorePathHash(1), "promoted", Time.GetUtcNow(), None);

        var pins = await Store.ListPinsAsync(cache, None);
        Assert.Equal([StorePathHash(1), StorePathHash(2)], pins.Select(p => p.StorePathHash));
        Assert.Equal(("release 1.0", Time.GetUtcNow()), (pins[1].Reason, pins[1].CreatedAt));
        Assert.Empty(await Store.ListPinsAsync(await CreateCacheIdAsync("other"), None));

        Assert.True(await Store.UnpinAsync(cache, StorePathHash(2), None));
        Assert.False(await Store.UnpinAsync(cache, StorePathHash(2), None));
        Assert.Equal(1, (await Store.GetCacheUsageAsync(cache, None)).Pins);
    }

    [Fact]
    public async Task Narinfo_nodes_page_through_a_cache_in_hash_order()
    {
        var cache = await CreateCacheIdAsync();
        for (var i = 0; i < 7; i++)
        {
            await Store.PutNarInfoAsync(cache, NewNarInfo(i), None);
        }

        var nodes = new List<NarInfoNode>();
        string? after = null;
        while (true)
        {
            var page = await Store.ListNarInfoNodesAsync(cache, after, 3, None);
            nodes.AddRange(page);
            if (page.Count < 3)
            {
                break;
            }

            after = page[^1].StorePathHash;
        }

        Assert.Equal(Enumerable.Range(0, 7).Select(StorePathHash), nodes.Select(n => n.StorePathHash));
        Assert.Equal(NewNarInfo(3).References, nodes[3].References);
        Assert.Equal(1003, nodes[3].FileSize);
        Assert.Equal(Time.GetUtcNow(), nodes[3].LastAccess);
    }

    [Fact]
    public async Task Removing_narinfos_spares_pinned_and_recently_read_ones_and_takes_their_listings()
    {
        var cache = await CreateCacheIdAsync();
        var start = Time.GetUtcNow();
        for (var i = 0; i < 4; i++)
        {
            await Store.PutNarInfoAsync(cache, NewNarInfo(i), None);
            await Store.PutCacheFileAsync(cache, new CacheFileRecord(StorePathHash(i) + ".ls", Digest($"ls {i}"), 10, "application/json", null, start), None);
        }

        await Store.PinAsync(cache, StorePathHash(1), "kept", start, None);
        await Store.TouchNarInfosAsync(cache, [StorePathHash(2)], start.AddDays(2), None);

        var removed = await Store.RemoveNarInfosAsync(cache, [StorePathHash(0), StorePathHash(1), StorePathHash(2), StorePathHash(9)], start.AddDays(1), None);

        Assert.Equal(new RemovedEntries(1, 1000), removed);
        Assert.Equal(
            new HashSet<string> { StorePathHash(1), StorePathHash(2), StorePathHash(3) },
            await Store.FindNarInfosAsync(cache, Enumerable.Range(0, 4).Select(StorePathHash).ToList(), None));
        Assert.Null(await Store.GetCacheFileAsync(cache, StorePathHash(0) + ".ls", None));
        Assert.NotNull(await Store.GetCacheFileAsync(cache, StorePathHash(1) + ".ls", None));
    }

    [Fact]
    public async Task Nar_records_no_narinfo_names_are_removed_after_the_grace_period()
    {
        var cache = await CreateCacheIdAsync();
        var named = NewNarInfo(1);
        await Store.PutNarFileAsync(cache, new NarFileRecord(named.FileHash, "zstd", 1001, named.NarHash, 5001, Time.GetUtcNow()), None);
        await Store.PutNarInfoAsync(cache, named, None);
        await Store.PutNarFileAsync(cache, new NarFileRecord(Digest("abandoned"), "xz", 77, named.NarHash, 5001, Time.GetUtcNow()), None);
        Time.Advance(TimeSpan.FromMinutes(30));
        await Store.PutNarFileAsync(cache, new NarFileRecord(Digest("in flight"), "xz", 88, named.NarHash, 5001, Time.GetUtcNow()), None);

        var removed = await Store.RemoveUnreferencedNarFilesAsync(cache, Time.GetUtcNow().AddMinutes(-10), None);

        Assert.Equal(new RemovedEntries(1, 77), removed);
        Assert.Null(await Store.GetNarFileAsync(cache, Digest("abandoned"), None));
        Assert.NotNull(await Store.GetNarFileAsync(cache, Digest("in flight"), None));
        Assert.NotNull(await Store.GetNarFileAsync(cache, named.FileHash, None));
    }

    [Fact]
    public async Task The_unreferenced_blob_sweep_removes_only_what_nothing_names_and_pages_through_all_blobs()
    {
        var cache = await CreateCacheIdAsync();
        var old = Time.GetUtcNow();
        for (var i = 0; i < 25; i++)
        {
            await Store.RecordBlobAsync(Digest(i), i + 1, old, None);
        }

        // Referenced in each way the index knows: a cache uses it, a NAR record, a narinfo, a cache file names it.
        await Store.AddCacheBlobsAsync(cache, [Digest(0)], old, None);
        await Store.PutNarFileAsync(cache, new NarFileRecord(Digest(1), "none", 2, "sha256:x", 2, old), None);
        await Store.PutNarInfoAsync(cache, NewNarInfo(7) with { FileHash = Digest(2) }, None);
        await Store.PutCacheFileAsync(cache, new CacheFileRecord("log/x.drv", Digest(3), 4, "text/plain", null, old), None);
        Time.Advance(TimeSpan.FromHours(1));
        await Store.RecordBlobAsync(Digest(4), 5, Time.GetUtcNow(), None); // re-uploaded just now: within the grace period
        var since = Time.GetUtcNow().AddMinutes(-10);

        var dry = await SweepAllAsync(since, dryRun: true);
        Assert.Equal(20, dry.Count);
        Assert.Empty(await Store.FindMissingBlobsAsync(Enumerable.Range(0, 25).Select(Digest).ToList(), None));

        var swept = await SweepAllAsync(since, dryRun: false);
        Assert.Equal(dry.ToHashSet(), swept.ToHashSet());
        Assert.Equal(Enumerable.Range(5, 20).Select(i => new SizedBlob(Digest(i), i + 1)).ToHashSet(), swept.ToHashSet());
        var missing = await Store.FindMissingBlobsAsync(Enumerable.Range(0, 25).Select(Digest).ToList(), None);
        Assert.Equal(Enumerable.Range(5, 20).Select(Digest).ToHashSet(), missing.ToHashSet());
        Assert.Empty(await SweepAllAsync(since, dryRun: false));
    }

    [Fact]
    public async Task Cache_usage_counts_what_a_cache_holds()
    {
        var cache = await CreateCacheIdAsync();
        await RecordAsync(cache, 1, 100, Time.GetUtcNow());
        await RecordAsync(cache, 2, 50, Time.GetUtcNow());
        await Store.PutNarFileAsync(cache, new NarFileRecord(Digest("nar"), "xz", 700, "sha256:x", 900, Time.GetUtcNow()), None);
        await Store.PutNarInfoAsync(cache, NewNarInfo(1), None);
        await Store.PutActionResultAsync(cache, Digest("action"), new byte[] { 1 }, Time.GetUtcNow(), None);
        await Store.PinAsync(cache, StorePathHash(1), "x", Time.GetUtcNow(), None);

        Assert.Equal(new CacheUsage(2, 150, 1, 1, 700, 1, 1), await Store.GetCacheUsageAsync(cache, None));
        Assert.Equal(new CacheUsage(0, 0, 0, 0, 0, 0, 0), await Store.GetCacheUsageAsync(await CreateCacheIdAsync("empty"), None));
    }

    private async Task<List<SizedBlob>> SweepAllAsync(DateTimeOffset since, bool dryRun)
    {
        var all = new List<SizedBlob>();
        BlobDigest? after = null;
        var pages = 0;
        do
        {
            var page = await Store.SweepUnreferencedBlobsAsync(after, 4, since, dryRun, None);
            all.AddRange(page.Unreferenced);
            after = page.Next;
            Assert.True(++pages < 20, "the sweep does not end");
        }
        while (after is not null);

        return all;
    }
}
