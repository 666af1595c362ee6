using System.Text;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Maintenance;

/// <summary>
/// <see cref="QuotaEviction"/> on its own, on the real disk store and SQLite index: which blobs a cache over its quota
/// stops using (least recently used first, only as many as bring it within the quota, none of another cache's).
/// </summary>
public sealed class QuotaEvictionTests : IAsyncLifetime
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "flywheel-quota-" + Guid.NewGuid().ToString("N"));
    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.Zero));
    private DiskBlobStore _blobs = null!;
    private SqliteMetadataStore _index = null!;
    private CacheCatalog _catalog = null!;
    private AccessTracker _access = null!;
    private BazelCache _bazel = null!;

    private static CancellationToken None => CancellationToken.None;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        _blobs = new DiskBlobStore(Path.Combine(_folder, "blobs"));
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), _time);
        await _index.MigrateAsync(None);
        _catalog = new CacheCatalog(_index, _time);
        _access = new AccessTracker(_index, _time);
        _bazel = new BazelCache(_blobs, _index, BazelLimits.Default, _time, _access);
    }

    public Task DisposeAsync()
    {
        _index.Dispose();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private async Task<BazelDigest> PutAsync(CacheContext cache, string seed, int size)
    {
        var bytes = Encoding.UTF8.GetBytes(seed.PadRight(size, '.'));
        var digest = BazelDigest.Compute(bytes);
        await _bazel.PutAsync(cache, digest, bytes, None);
        _time.Advance(TimeSpan.FromMinutes(1));
        return digest;
    }

    [Fact]
    public async Task Evicts_the_least_recently_used_first_and_stops_once_within_the_quota()
    {
        var cache = await _catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 250);
        var other = await _catalog.CreateAsync("other", isPublic: false, priority: 40, None);
        var blobs = new List<BazelDigest>();
        for (var i = 0; i < 5; i++)
        {
            blobs.Add(await PutAsync(cache, $"blob {i}", 100));
        }

        // read order now, oldest first: 2, 3, 4, 0 (read again), 1 (read again, newest)
        Assert.NotNull(await _bazel.OpenAsync(cache, blobs[0], None));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.NotNull(await _bazel.OpenAsync(cache, blobs[1], None));
        await _access.FlushAsync(None);
        Assert.Equal(blobs[2], await PutAsync(other, "blob 2", 100)); // the other cache's use of the same bytes stays

        var (evicted, actions, after) = await new QuotaEviction(_index).RunAsync(await Record("bazel"), dryRun: false, None);

        // 500 bytes against a quota of 250: the three least recently used go, which leaves 200 (two would leave 300)
        Assert.Equal(new RemovedEntries(3, 300), evicted);
        Assert.Equal(RemovedEntries.None, actions);
        Assert.Equal(200, after);
        Assert.Equal([blobs[2], blobs[3], blobs[4]], await _bazel.FindMissingAsync(cache, blobs, None));
        Assert.Equal([blobs[0], blobs[1], blobs[3], blobs[4]], await _bazel.FindMissingAsync(other, blobs, None));
        var usage = await _index.GetCacheUsageAsync(cache.Id, None);
        Assert.Equal((2L, 200L), (usage.Blobs, usage.BlobBytes));
    }

    [Fact]
    public async Task A_dry_run_counts_the_same_blobs_and_removes_none()
    {
        var cache = await _catalog.CreateAsync("bazel", isPublic: false, priority: 40, None, quotaBytes: 150);
        var blobs = new List<BazelDigest>();
        for (var i = 0; i < 3; i++)
        {
            blobs.Add(await PutAsync(cache, $"blob {i}", 100));
        }

        var (evicted, _, after) = await new QuotaEviction(_index).RunAsync(await Record("bazel"), dryRun: true, None);

        Assert.Equal(new RemovedEntries(2, 200), evicted);
        Assert.Equal(100, after);
        Assert.Empty(await _bazel.FindMissingAsync(cache, blobs, None));
    }

    [Fact]
    public async Task A_cache_within_its_quota_or_without_one_keeps_everything()
    {
        var within = await _catalog.CreateAsync("within", isPublic: false, priority: 40, None, quotaBytes: 200);
        var unlimited = await _catalog.CreateAsync("unlimited", isPublic: false, priority: 40, None);
        var kept = new[] { await PutAsync(within, "a", 100), await PutAsync(within, "b", 100) };
        var alsoKept = new[] { await PutAsync(unlimited, "c", 1000), await PutAsync(unlimited, "d", 1000) };

        Assert.Equal((RemovedEntries.None, RemovedEntries.None, 200L), await new QuotaEviction(_index).RunAsync(await Record("within"), dryRun: false, None));
        Assert.Equal((RemovedEntries.None, RemovedEntries.None, 2000L), await new QuotaEviction(_index).RunAsync(await Record("unlimited"), dryRun: false, None));
        Assert.Empty(await _bazel.FindMissingAsync(within, kept, None));
        Assert.Empty(await _bazel.FindMissingAsync(unlimited, alsoKept, None));
    }

    private async Task<CacheRecord> Record(string name) => await _index.GetCacheAsync(name, None) ?? throw new InvalidOperationException(name);
}
