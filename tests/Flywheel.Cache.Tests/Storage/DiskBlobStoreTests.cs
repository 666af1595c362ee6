using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Storage;

public sealed class DiskBlobStoreTests : BlobStoreContract
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "flywheel-disk-" + Guid.NewGuid().ToString("N"));
    private readonly ManualTimeProvider _time = new(DateTimeOffset.UtcNow);

    protected override IBlobStore CreateStore() => new DiskBlobStore(_root, _time);

    protected override Task CleanupAsync()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }

        return Task.CompletedTask;
    }

    private DiskBlobStore Disk => (DiskBlobStore)Store;

    private string TemporaryDirectory => Path.Combine(_root, ".tmp");

    [Fact]
    public async Task Blobs_live_under_a_two_hex_shard_and_the_handle_names_the_file()
    {
        var commit = await Store.WriteAsync("layout"u8.ToArray(), null, None);
        var hex = commit.Digest.ToHex();
        var expected = Path.Combine(Path.GetFullPath(_root), hex[..2], hex);

        var handle = await Store.OpenAsync(commit.Digest, None);

        Assert.True(File.Exists(expected));
        Assert.Equal(expected, handle!.LocalPath);
        Assert.Equal(expected, Disk.GetPath(commit.Digest));
        Assert.Equal("layout"u8.ToArray(), await File.ReadAllBytesAsync(expected));
    }

    [Fact]
    public async Task Empty_blob_has_no_file()
    {
        await Store.WriteAsync(ReadOnlyMemory<byte>.Empty, null, None);

        Assert.False(File.Exists(Disk.GetPath(BlobDigest.Empty)));
        Assert.Null((await Store.OpenAsync(BlobDigest.Empty, None))!.LocalPath);
        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
    }

    [Fact]
    public async Task Writes_in_progress_stay_in_the_temporary_directory()
    {
        var content = RandomBytes(200_000, 1);
        await using var writer = await Store.BeginWriteAsync(null, None);
        await writer.WriteAsync(content, None);

        Assert.Single(Directory.EnumerateFiles(TemporaryDirectory));
        Assert.Empty(await ListAllAsync());
        Assert.False(File.Exists(Disk.GetPath(BlobDigest.Compute(content))));

        await writer.CommitAsync(null, None);

        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
    }

    [Fact]
    public async Task Abandoned_and_rejected_writes_leave_no_temporary_files()
    {
        await using (var writer = await Store.BeginWriteAsync(null, None))
        {
            await writer.WriteAsync(RandomBytes(1000, 2), None);
        }

        await Assert.ThrowsAsync<CacheException>(() => Store.WriteAsync(RandomBytes(1000, 3), BlobDigest.Empty, None));
        await Store.WriteAsync(RandomBytes(1000, 4), null, None);
        await Store.WriteAsync(RandomBytes(1000, 4), null, None);

        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
    }

    // Blobs past DiskBlobWriter.FollowFrom are hashed by a FileHashFollower reading the file back on another task.
    [Fact]
    public async Task A_followed_write_abandoned_midway_leaves_no_temporary_file()
    {
        await using (var writer = await Store.BeginWriteAsync(null, None))
        {
            var content = RandomBytes(3 << 20, 11);
            for (var i = 0; i < content.Length; i += 300_000)
            {
                await writer.WriteAsync(content.AsMemory(i, Math.Min(300_000, content.Length - i)), None);
            }
        }

        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
        Assert.Empty(await ListAllAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_followed_write_with_wrong_bytes_is_rejected_and_stores_nothing(bool hinted)
    {
        var content = RandomBytes(5 << 20, 12);
        var claimed = BlobDigest.Compute(RandomBytes(5 << 20, 13));
        var actual = BlobDigest.Compute(content);

        await using var writer = await Store.BeginWriteAsync(hinted ? claimed : null, None);
        await writer.WriteAsync(content.AsMemory(0, 100), None);
        await writer.WriteAsync(content.AsMemory(100), None);
        var e = await Assert.ThrowsAsync<CacheException>(() => writer.CommitAsync(claimed, None));

        Assert.Contains(actual.ToHex(), e.Message);
        Assert.Contains(claimed.ToHex(), e.Message);
        Assert.False(File.Exists(Disk.GetPath(actual)));
        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
    }

    [Theory]
    [InlineData(1_048_575)]
    [InlineData(1_048_576)]
    [InlineData(1_048_577)]
    [InlineData(9 << 20)]
    public async Task Blobs_around_the_follower_threshold_are_stored_under_their_digest(int size)
    {
        var content = RandomBytes(size, 14);
        await using var writer = await Store.BeginWriteAsync(null, None);
        for (var i = 0; i < size; i += 65_535)
        {
            await writer.WriteAsync(content.AsMemory(i, Math.Min(65_535, size - i)), None);
        }

        var commit = await writer.CommitAsync(null, None);

        Assert.Equal(BlobDigest.Compute(content), commit.Digest);
        Assert.Equal(content, await File.ReadAllBytesAsync(Disk.GetPath(commit.Digest)));
    }

    [Fact]
    public async Task A_followed_write_of_a_stored_blob_reports_it_already_existed()
    {
        var content = RandomBytes(4 << 20, 15);
        var first = await Store.WriteAsync(content, null, None);
        var stored = File.GetLastWriteTimeUtc(Disk.GetPath(first.Digest));

        var second = await Store.WriteAsync(content, first.Digest, None);

        Assert.True(second.AlreadyExisted);
        Assert.Equal(stored, File.GetLastWriteTimeUtc(Disk.GetPath(first.Digest)));
        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
    }

    [Fact]
    public async Task Concurrent_writes_of_one_blob_report_it_new_exactly_once()
    {
        var content = RandomBytes(300_000, 5);

        var commits = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => Store.WriteAsync(content, null, None))));

        Assert.Single(commits, c => !c.AlreadyExisted);
        Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
    }

    [Fact]
    public async Task Commits_return_before_their_fsyncs_and_one_background_round_syncs_them_all()
    {
        const int writers = 32;
        var store = new DiskBlobStore(_root, _time, DiskSyncOptions.Default with { Interval = TimeSpan.FromHours(1) });
        try
        {
            var contents = Enumerable.Range(0, writers).Select(i => RandomBytes(3_000 + i, 100 + i)).ToList();
            var commits = await Task.WhenAll(contents.Select(c => Task.Run(() => store.WriteAsync(c, null, None))));

            Assert.All(commits, c => Assert.False(c.AlreadyExisted));
            Assert.Equal(0, store.Sync.Rounds); // acknowledged: written, verified and linked; the round comes later
            for (var i = 0; i < writers; i++)
            {
                Assert.Equal(contents[i], await File.ReadAllBytesAsync(store.GetPath(commits[i].Digest)));
            }

            _time.Advance(TimeSpan.FromSeconds(3));
            await store.FlushAsync();

            Assert.Equal(1, store.Sync.Rounds);
            Assert.Equal(writers, store.Sync.Published);
            Assert.Equal((_time.GetUtcNow().ToUnixTimeMilliseconds(), false), Horizon());
            Assert.Empty(Directory.EnumerateFiles(TemporaryDirectory));
        }
        finally
        {
            await store.DisposeAsync();
        }

        Assert.Equal((_time.GetUtcNow().ToUnixTimeMilliseconds(), true), Horizon());
    }

    [Fact]
    public async Task A_failed_round_is_reported_and_keeps_the_horizon_where_it_was()
    {
        var store = new DiskBlobStore(_root, _time, DiskSyncOptions.Default with { Interval = TimeSpan.FromHours(1) });
        var failures = new List<(Exception Error, int Blobs)>();
        store.SyncFailed += (error, blobs) => failures.Add((error, blobs));
        try
        {
            var before = Horizon();
            var commit = await store.WriteAsync(RandomBytes(2_000, 42), null, None);
            store.Sync.Enqueue(Path.Combine(store.GetPath(commit.Digest), "not-a-directory"), 1); // open(2) fails: ENOTDIR
            _time.Advance(TimeSpan.FromSeconds(3));

            await Assert.ThrowsAsync<IOException>(store.FlushAsync);

            var (error, blobs) = Assert.Single(failures);
            Assert.IsType<IOException>(error);
            Assert.Equal(2, blobs);
            Assert.True(store.Sync.Failed);
            Assert.Equal(before, Horizon());
        }
        finally
        {
            await store.DisposeAsync();
        }

        Assert.False(Horizon().Clean); // a store whose round failed does not mark its stop clean
    }

    [Fact]
    public async Task The_durable_horizon_advances_by_itself_every_interval()
    {
        var store = new DiskBlobStore(_root, _time, DiskSyncOptions.Default with { Interval = TimeSpan.FromMilliseconds(20) });
        try
        {
            var started = Horizon();
            _time.Advance(TimeSpan.FromSeconds(1));
            await store.WriteAsync(RandomBytes(1000, 40), null, None);

            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (store.Sync.Published == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            Assert.Equal(1, store.Sync.Published);
            Assert.Equal((started.Horizon + 1000, false), Horizon());
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Enough_pending_bytes_start_a_round_before_its_time()
    {
        var store = new DiskBlobStore(_root, _time, new DiskSyncOptions(TimeSpan.FromHours(1), MaxPendingBytes: 64 * 1024));
        try
        {
            await store.WriteAsync(RandomBytes(100 * 1024, 41), null, None);

            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (store.Sync.Published == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            Assert.Equal(1, store.Sync.Published);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_second_store_on_a_folder_in_use_syncs_its_own_commits_and_leaves_the_horizon_alone()
    {
        _ = Store; // owns the horizon
        var second = new DiskBlobStore(_root, _time, DiskSyncOptions.Default with { Interval = TimeSpan.FromHours(1) });
        try
        {
            Assert.False(second.DefersSync);
            await second.WriteAsync(RandomBytes(1000, 42), null, None);

            Assert.Equal(1, second.Sync.Published); // synced before the commit returned
        }
        finally
        {
            await second.DisposeAsync();
        }

        Assert.False(Horizon().Clean); // the owner still runs
    }

    private (long Horizon, bool Clean) Horizon()
    {
        var (horizon, clean) = DurableHorizon.Read(Path.Combine(_root, DurableHorizon.FileName));
        return (horizon.ToUnixTimeMilliseconds(), clean);
    }

    [Fact]
    public async Task Stale_temporary_files_are_swept_and_fresh_ones_kept()
    {
        _ = Store;
        var stale = Path.Combine(TemporaryDirectory, "stale");
        var fresh = Path.Combine(TemporaryDirectory, "fresh");
        await File.WriteAllTextAsync(stale, "x");
        await File.WriteAllTextAsync(fresh, "x");
        File.SetLastWriteTimeUtc(stale, _time.GetUtcNow().UtcDateTime.AddHours(-2));

        Assert.Equal(1, Disk.CleanStaleTemporaryFiles(TimeSpan.FromHours(1)));

        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(fresh));
    }

    [Fact]
    public async Task Starting_a_store_sweeps_stale_temporary_files()
    {
        Directory.CreateDirectory(TemporaryDirectory);
        var stale = Path.Combine(TemporaryDirectory, "stale");
        await File.WriteAllTextAsync(stale, "x");
        File.SetLastWriteTimeUtc(stale, _time.GetUtcNow().UtcDateTime - DiskBlobStore.DefaultStaleTemporaryAge - TimeSpan.FromMinutes(1));

        _ = Store;

        Assert.False(File.Exists(stale));
    }

    [Fact]
    public async Task List_skips_temporary_and_foreign_files()
    {
        var commit = await Store.WriteAsync("real"u8.ToArray(), null, None);
        await File.WriteAllTextAsync(Path.Combine(TemporaryDirectory, new string('a', 64)), "x");
        Directory.CreateDirectory(Path.Combine(_root, "zz"));
        await File.WriteAllTextAsync(Path.Combine(_root, "zz", "notes.txt"), "x");
        Directory.CreateDirectory(Path.Combine(_root, "ab"));
        await File.WriteAllTextAsync(Path.Combine(_root, "ab", "cd" + new string('0', 62)), "wrong shard");
        await File.WriteAllTextAsync(Path.Combine(_root, "README"), "x");

        var listed = await ListAllAsync();

        Assert.Equal([commit.Digest], listed.Select(b => b.Digest));
    }

    [Fact]
    public async Task Reading_a_blob_deleted_after_open_is_not_found()
    {
        var commit = await Store.WriteAsync(RandomBytes(100, 6), null, None);
        var handle = (await Store.OpenAsync(commit.Digest, None))!;
        await Store.DeleteAsync(commit.Digest, None);

        var e = await Assert.ThrowsAsync<CacheException>(() => handle.OpenReadAsync(None));

        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task A_missing_root_is_unavailable()
    {
        _ = Store;
        Directory.Delete(_root, recursive: true);

        var e = await Assert.ThrowsAsync<CacheException>(() => Store.CheckHealthAsync(None));

        Assert.Equal(CacheError.Unavailable, e.Error);
    }
}
