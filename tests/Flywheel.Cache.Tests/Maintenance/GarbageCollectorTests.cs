using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Microsoft.Extensions.Logging.Abstractions;

namespace Flywheel.Cache.Tests.Maintenance;

/// <summary>
/// The orphan sweep removes only blobs the index does not know, only when old enough, one collector at a time.
/// Quotas and retention: <see cref="GcQuotaAndRetentionTests"/>.
/// </summary>
public sealed class GarbageCollectorTests : IAsyncLifetime
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "flywheel-gc-" + Guid.NewGuid().ToString("N"));
    private readonly FlywheelMetrics _metrics = new(Prometheus.Metrics.NewCustomRegistry());
    private DiskBlobStore _blobs = null!;
    private SqliteMetadataStore _index = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        _blobs = new DiskBlobStore(Path.Combine(_folder, "blobs"));
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"));
        await _index.MigrateAsync(CancellationToken.None);
    }

    private GarbageCollector Collector(TimeSpan grace) => new(
        _blobs, _index, _index, _index, _index, TimeProvider.System, new GcOptions(TimeSpan.Zero, grace),
        _metrics, NullLogger<GarbageCollector>.Instance);

    /// <summary>Stores a blob; when <paramref name="record"/>, the index records it as a blob the cache <c>main</c> uses.</summary>
    private async Task<BlobDigest> StoreAsync(string content, bool record)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(content);
        var commit = await _blobs.WriteAsync(bytes, BlobDigest.Compute(bytes), CancellationToken.None);
        if (record)
        {
            var cache = await _index.GetCacheAsync("main", CancellationToken.None)
                ?? await _index.CreateCacheAsync(new Flywheel.Cache.Index.CacheRecord(0, "main", true, 40, "/nix/store", "main-1:c2VjcmV0", "main-1:cHVibGlj", null, default), CancellationToken.None);
            await _index.RecordBlobAsync(commit.Digest, commit.Size, DateTimeOffset.UtcNow, CancellationToken.None);
            await _index.AddCacheBlobsAsync(cache.Id, [commit.Digest], DateTimeOffset.UtcNow, CancellationToken.None);
        }

        return commit.Digest;
    }

    [Fact]
    public async Task Orphans_older_than_the_grace_are_removed_and_known_blobs_kept()
    {
        var known = await StoreAsync("known", record: true);
        var orphan = await StoreAsync("orphan", record: false);
        await Task.Delay(50);
        var report = await Collector(TimeSpan.FromMilliseconds(10)).RunAsync(dryRun: false, CancellationToken.None);
        Assert.True(report.Ran);
        Assert.Equal(2, report.BlobsScanned);
        Assert.Equal(1, report.Orphans);
        Assert.Equal("orphan".Length, report.OrphanBytes);
        Assert.Equal(1, report.OrphansRemoved);
        Assert.NotNull(await _blobs.OpenAsync(known, CancellationToken.None));
        Assert.Null(await _blobs.OpenAsync(orphan, CancellationToken.None));
        Assert.Equal(1, _metrics.GcRemovedBlobs.WithLabels("orphan").Value);
        Assert.Equal("orphan".Length, _metrics.GcRemovedBytes.WithLabels("orphan").Value);
        Assert.Equal(1, _metrics.GcRuns.WithLabels("completed").Value);
    }

    [Fact]
    public async Task Young_orphans_are_kept_so_uploads_in_flight_are_safe()
    {
        var orphan = await StoreAsync("just stored, not yet recorded", record: false);
        var report = await Collector(TimeSpan.FromHours(1)).RunAsync(dryRun: false, CancellationToken.None);
        Assert.Equal(0, report.Orphans);
        Assert.NotNull(await _blobs.OpenAsync(orphan, CancellationToken.None));
    }

    [Fact]
    public async Task Dry_run_reports_and_removes_nothing()
    {
        var orphan = await StoreAsync("orphan in a dry run", record: false);
        await Task.Delay(50);
        var report = await Collector(TimeSpan.FromMilliseconds(10)).RunAsync(dryRun: true, CancellationToken.None);
        Assert.Equal(1, report.Orphans);
        Assert.Equal(0, report.OrphansRemoved);
        Assert.NotNull(await _blobs.OpenAsync(orphan, CancellationToken.None));
    }

    [Fact]
    public async Task A_second_collector_skips_while_one_holds_the_lock()
    {
        await using var held = await _index.TryAcquireMaintenanceLockAsync(CancellationToken.None);
        Assert.NotNull(held);
        var report = await Collector(TimeSpan.Zero).RunAsync(dryRun: false, CancellationToken.None);
        Assert.False(report.Ran);
    }

    public Task DisposeAsync()
    {
        _index.Dispose();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }
}
