using System.Security.Cryptography;
using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Index;

/// <summary>Reads are recorded in memory and written to the index as last-access times in batches.</summary>
public sealed class AccessTrackerTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "flywheel-access-" + Guid.NewGuid().ToString("N"));
    private readonly ManualTimeProvider _time = new();
    private readonly SqliteMetadataStore _index;

    public AccessTrackerTests()
    {
        Directory.CreateDirectory(_folder);
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), _time);
    }

    [Fact]
    public async Task Narinfo_reads_bump_last_access_only_when_flushed()
    {
        await _index.MigrateAsync(CancellationToken.None);
        var cache = await new CacheCatalog(_index, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        var tracker = new AccessTracker(_index, _index, _index, _time);
        var nix = new NixBinaryCache(new DiskBlobStore(Path.Combine(_folder, "blobs"), _time), _index, _index,
            new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.Zero, _time), NixCacheLimits.Default, _time, tracker);
        var upload = NarUpload.Create("touched", "contents");
        await nix.PutNarAsync(cache, upload.NarFileName, new MemoryStream(upload.Nar), upload.Nar.Length, CancellationToken.None);
        await nix.PutNarInfoAsync(cache, upload.StorePathHash, Encoding.UTF8.GetBytes(upload.NarInfo), CancellationToken.None);
        var stored = (await _index.GetNarInfoAsync(cache.Id, upload.StorePathHash, CancellationToken.None))!.LastAccess;

        _time.Advance(TimeSpan.FromHours(1));
        Assert.NotNull(await nix.GetNarInfoAsync(cache, upload.StorePathHash, CancellationToken.None));
        Assert.NotNull(await nix.GetNarInfoAsync(cache, upload.StorePathHash, CancellationToken.None)); // once per period
        Assert.Equal(1, tracker.PendingNarInfos);
        Assert.Equal(stored, (await _index.GetNarInfoAsync(cache.Id, upload.StorePathHash, CancellationToken.None))!.LastAccess);

        await tracker.FlushAsync(CancellationToken.None);
        Assert.Equal(0, tracker.PendingNarInfos);
        Assert.Equal(_time.GetUtcNow(), (await _index.GetNarInfoAsync(cache.Id, upload.StorePathHash, CancellationToken.None))!.LastAccess);
        Assert.Null(await nix.GetNarInfoAsync(cache, NixBase32.Encode(RandomNumberGenerator.GetBytes(20)), CancellationToken.None));
        Assert.Equal(0, tracker.PendingNarInfos); // misses are not accesses
    }

    [Fact]
    public void Pending_entries_are_bounded()
    {
        var tracker = new AccessTracker(_index, _index, _index, _time);
        for (var i = 0; i < AccessTracker.MaxPending + 10; i++)
        {
            tracker.RecordBlob(1, Flywheel.Cache.Storage.BlobDigest.Compute(BitConverter.GetBytes(i)));
        }

        Assert.Equal(AccessTracker.MaxPending, tracker.PendingBlobs);
    }

    public void Dispose()
    {
        _index.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
