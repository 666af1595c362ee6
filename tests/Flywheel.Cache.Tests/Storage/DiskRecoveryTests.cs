using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Storage;

/// <summary>
/// A machine crash, simulated: the store is let go without its final round or clean marker (as a killed process
/// would leave it), and the bytes of a blob that was acknowledged and indexed but not yet synced are cut, as a crash
/// before writeback would. The next start's check drops every row naming that blob, so nothing is served for it, and
/// the path can be pushed again. Intact blobs are kept (and synced), and a clean stop leaves nothing to check.
/// </summary>
public sealed class DiskRecoveryTests : IAsyncLifetime
{
    // Rounds only when asked: every upload of a test stays unsynced, as in the interval before a crash.
    private static readonly DiskSyncOptions NoRounds = DiskSyncOptions.Default with { Interval = TimeSpan.FromHours(1) };

    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-recovery-").FullName;
    private readonly ManualTimeProvider _time = new();
    private readonly SqliteMetadataStore _index;
    private CacheContext _cache = null!;
    private DiskBlobStore? _store;

    public DiskRecoveryTests()
    {
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), _time);
    }

    private static CancellationToken None => CancellationToken.None;

    private string Blobs => Path.Combine(_folder, "blobs");

    public async Task InitializeAsync()
    {
        await _index.MigrateAsync(None);
        _cache = await new CacheCatalog(_index, _time).CreateAsync("main", isPublic: true, priority: 40, None);
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }

    private DiskBlobStore Open()
    {
        _store = new DiskBlobStore(Blobs, _time, NoRounds);
        return _store;
    }

    private NixBinaryCache Nix(DiskBlobStore store) => new(store, _index, _index,
        new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.Zero, _time), NixCacheLimits.Default, _time);

    private async Task PushAsync(NixBinaryCache nix, NarUpload upload)
    {
        await nix.PutNarAsync(_cache, upload.NarFileName, new MemoryStream(upload.Nar), upload.Nar.Length, None);
        await nix.PutNarInfoAsync(_cache, upload.StorePathHash, Encoding.UTF8.GetBytes(upload.NarInfo), None);
    }

    private string NarPath(DiskBlobStore store, NarUpload upload) => store.GetPath(NarFileName.Parse(upload.NarFileName).FileHash);

    [Fact]
    public async Task After_a_crash_a_nar_whose_bytes_were_lost_is_dropped_from_the_index_and_can_be_pushed_again()
    {
        var lost = NarUpload.Create("lost-1.0", new string('l', 10_000));
        var kept = NarUpload.Create("kept-1.0", new string('k', 10_000));
        var crashed = Open();
        await PushAsync(Nix(crashed), lost);
        await PushAsync(Nix(crashed), kept);
        Assert.Equal(0, crashed.Sync.Rounds); // acknowledged and indexed, not synced yet
        crashed.Abandon();
        var path = NarPath(crashed, lost);
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(lost.Nar.Length / 3); // what writeback had reached when the machine stopped
        }

        var restarted = Open();
        Assert.NotNull(restarted.Horizon.UncheckedSince);
        var report = await DiskRecovery.RunAsync(restarted, _index, None);

        Assert.True(report.Needed);
        Assert.Equal(2, report.Checked);
        var dropped = Assert.Single(report.Dropped);
        Assert.Equal(NarFileName.Parse(lost.NarFileName).FileHash, dropped.Digest);
        Assert.Equal($"{lost.Nar.Length / 3} bytes on disk, {lost.Nar.Length} recorded", dropped.Reason);
        Assert.Equal(4, dropped.RowsRemoved); // narinfo, NAR file record, the cache's ownership, the blob record
        Assert.False(File.Exists(path));
        var nix = Nix(restarted);
        Assert.Null(await nix.GetNarInfoAsync(_cache, lost.StorePathHash, None));
        Assert.Null(await nix.OpenNarAsync(_cache, lost.NarFileName, None));
        Assert.NotNull(await nix.GetNarInfoAsync(_cache, kept.StorePathHash, None));
        Assert.Null(restarted.Horizon.UncheckedSince);
        Assert.Equal(1, restarted.Sync.Published); // the intact blob is synced before the horizon moves on

        await PushAsync(nix, lost);
        Assert.NotNull(await nix.GetNarInfoAsync(_cache, lost.StorePathHash, None));
        Assert.Equal(lost.Nar, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Bytes_that_changed_at_their_size_are_found_by_their_hash()
    {
        var upload = NarUpload.Create("zeroed-1.0", new string('z', 5_000));
        var crashed = Open();
        await PushAsync(Nix(crashed), upload);
        crashed.Abandon();
        var path = NarPath(crashed, upload);
        await File.WriteAllBytesAsync(path, new byte[upload.Nar.Length]); // allocated, never written

        var restarted = Open();
        var report = await DiskRecovery.RunAsync(restarted, _index, None);

        Assert.StartsWith($"its {upload.Nar.Length} bytes hash to ", Assert.Single(report.Dropped).Reason);
        Assert.Null(await Nix(restarted).GetNarInfoAsync(_cache, upload.StorePathHash, None));
    }

    [Fact]
    public async Task After_kill_minus_9_everything_acknowledged_is_kept_and_the_horizon_moves_past_it()
    {
        var upload = NarUpload.Create("survivor-1.0", "still in the page cache");
        var killed = Open();
        await PushAsync(Nix(killed), upload);
        var before = DurableHorizon.Read(Path.Combine(Blobs, DurableHorizon.FileName));
        killed.Abandon();
        _time.Advance(TimeSpan.FromMinutes(1));

        var restarted = Open();
        var report = await DiskRecovery.RunAsync(restarted, _index, None);

        Assert.Equal(1, report.Checked);
        Assert.Empty(report.Dropped);
        Assert.NotNull(await Nix(restarted).GetNarInfoAsync(_cache, upload.StorePathHash, None));
        var after = DurableHorizon.Read(Path.Combine(Blobs, DurableHorizon.FileName));
        Assert.False(before.Clean);
        Assert.Equal((_time.GetUtcNow(), false), (after.Horizon, after.Clean));
        Assert.True(after.Horizon > before.Horizon);
    }

    [Fact]
    public async Task A_clean_stop_leaves_nothing_to_check()
    {
        var upload = NarUpload.Create("clean-1.0", new string('c', 3_000));
        var stopped = Open();
        await PushAsync(Nix(stopped), upload);
        await stopped.DisposeAsync();
        Assert.Equal(1, stopped.Sync.Published); // the final round synced it
        Assert.Equal((_time.GetUtcNow(), true), DurableHorizon.Read(Path.Combine(Blobs, DurableHorizon.FileName)));

        var restarted = Open();

        Assert.Null(restarted.Horizon.UncheckedSince);
        Assert.Same(DiskRecoveryReport.NotNeeded, await DiskRecovery.RunAsync(restarted, _index, None));
    }

    [Fact]
    public async Task A_crash_during_the_check_leaves_it_to_the_next_start()
    {
        var crashed = Open();
        await PushAsync(Nix(crashed), NarUpload.Create("twice-1.0", "x"));
        crashed.Abandon();
        var horizon = DurableHorizon.Read(Path.Combine(Blobs, DurableHorizon.FileName)).Horizon;
        _time.Advance(TimeSpan.FromMinutes(1));

        Open().Abandon(); // started, crashed again before its check
        var third = Open();

        Assert.Equal(horizon - DurableHorizon.ClockMargin, third.Horizon.UncheckedSince);
    }

    [Fact]
    public async Task After_a_crash_a_partial_blob_no_row_names_is_replaced_by_the_next_upload_of_its_bytes()
    {
        var content = Encoding.UTF8.GetBytes(new string('p', 20_000));
        var crashed = Open();
        var commit = await crashed.WriteAsync(content, null, None); // linked; the crash came before its index rows
        crashed.Abandon();
        var path = crashed.GetPath(commit.Digest);
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(100);
        }

        var restarted = Open();
        Assert.Empty((await DiskRecovery.RunAsync(restarted, _index, None)).Dropped); // no row to drop
        var again = await restarted.WriteAsync(content, null, None);

        Assert.False(again.AlreadyExisted);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }
}
