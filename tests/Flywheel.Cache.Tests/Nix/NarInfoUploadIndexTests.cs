using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>
/// A narinfo PUT's index traffic: one query reads the NAR file record it is checked against together with the narinfo
/// it replaces (whose signatures may be kept), then one statement writes it. On PostgreSQL each call is a round trip.
/// </summary>
public sealed class NarInfoUploadIndexTests : IDisposable, IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-narinfo-index-").FullName;
    private readonly ManualTimeProvider _time = new();
    private readonly SqliteMetadataStore _index;
    private readonly List<string> _calls = [];
    private NixBinaryCache _nix = null!;
    private CacheContext _cache = null!;

    public NarInfoUploadIndexTests()
    {
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), _time);
    }

    public async Task InitializeAsync()
    {
        await _index.MigrateAsync(CancellationToken.None);
        _cache = await new CacheCatalog(_index, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        _nix = new NixBinaryCache(new DiskBlobStore(Path.Combine(_folder, "blobs"), _time), CallRecorder<INarInfoStore>.Wrap(_index, _calls), _index,
            new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.Zero, _time), NixCacheLimits.Default, _time);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task A_narinfo_put_is_one_index_read_and_one_write_also_when_it_replaces_one()
    {
        var upload = NarUpload.Create("hello-2.12", "one read, one write");
        await _nix.PutNarAsync(_cache, upload.NarFileName, new MemoryStream(upload.Nar), upload.Nar.Length, CancellationToken.None);
        var builder = NixSigningKey.Generate("builder-1");

        _calls.Clear();
        await _nix.PutNarInfoAsync(_cache, upload.StorePathHash, Encoding.UTF8.GetBytes(upload.NarInfo), CancellationToken.None);
        Assert.Equal([nameof(INarInfoStore.GetNarInfoUploadBasisAsync), nameof(INarInfoStore.PutNarInfoAsync)], _calls);

        _calls.Clear();
        var record = await _nix.PutNarInfoAsync(
            _cache, upload.StorePathHash, Encoding.UTF8.GetBytes(NarInfoSignatureMergeTests.SignedBy(upload, builder)), CancellationToken.None);
        Assert.Equal([nameof(INarInfoStore.GetNarInfoUploadBasisAsync), nameof(INarInfoStore.PutNarInfoAsync)], _calls);

        // The earlier narinfo came with the same read: the second upload's signature joins the cache's own.
        var stored = NarInfo.Parse(Encoding.UTF8.GetString(record.Text));
        Assert.True(stored.IsSignedByAny([builder.PublicKey]));
        Assert.True(stored.IsSignedByAny([_cache.SigningKey.PublicKey]));
        Assert.Equal(record.Text, (await _index.GetNarInfoAsync(_cache.Id, upload.StorePathHash, CancellationToken.None))!.Text);
    }

    [Fact]
    public async Task A_narinfo_for_a_nar_the_cache_lacks_is_refused_after_the_one_read()
    {
        var upload = NarUpload.Create("hello-2.12", "never uploaded");

        var e = await Assert.ThrowsAsync<CacheException>(() =>
            _nix.PutNarInfoAsync(_cache, upload.StorePathHash, Encoding.UTF8.GetBytes(upload.NarInfo), CancellationToken.None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("upload the NAR first", e.Message);
        Assert.Equal([nameof(INarInfoStore.GetNarInfoUploadBasisAsync)], _calls);
    }
}
