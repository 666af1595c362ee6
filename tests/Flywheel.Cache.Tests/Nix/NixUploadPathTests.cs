using System.Text;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>
/// The upload path's work per request. A NAR's file is hashed once, by the blob writer that stores it (NarHasher
/// hashes only the NAR inside), and the rule stays that bytes become visible only under the hash of the bytes stored
/// (small files hashed inline, large ones by the writer's follower reading the file back). A narinfo PUT's index
/// traffic is one query for the NAR file record it is checked against together with the narinfo it replaces (whose
/// signatures may be kept), then one write; on PostgreSQL each call is a round trip.
/// </summary>
public sealed class NixUploadPathTests : IDisposable, IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-nix-upload-").FullName;
    private readonly ManualTimeProvider _time = new();
    private readonly SqliteMetadataStore _index;
    private readonly List<string> _calls = [];
    private DiskBlobStore _blobs = null!;
    private NixBinaryCache _nix = null!;
    private CacheContext _cache = null!;

    public NixUploadPathTests()
    {
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), _time);
    }

    public async Task InitializeAsync()
    {
        await _index.MigrateAsync(CancellationToken.None);
        _cache = await new CacheCatalog(_index, _time).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        _blobs = new DiskBlobStore(Path.Combine(_folder, "blobs"), _time);
        _nix = new NixBinaryCache(_blobs, CallRecorder<INarInfoStore>.Wrap(_index, _calls), _index,
            new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.Zero, _time), NixCacheLimits.Default, _time);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static byte[] ZstdNar(int size, int seed)
    {
        var contents = new byte[size];
        new Random(seed).NextBytes(contents);
        return ZstdCompressor.CompressAll(NarBuilder.RegularFile(contents), 1);
    }

    private static string NameOf(byte[] file) => NixBase32.Encode(BlobDigest.Compute(file).ToBytes()) + ".nar.zst";

    [Theory]
    [InlineData(3000)] // hashed inline by the writer
    [InlineData(3 << 20)] // past DiskBlobWriter.FollowFrom: hashed by the follower
    public async Task A_valid_nar_under_another_files_name_is_refused_and_nothing_is_stored(int size)
    {
        var file = ZstdNar(size, 1);
        var other = ZstdNar(size, 2);

        var e = await Assert.ThrowsAsync<CacheException>(() =>
            _nix.PutNarAsync(_cache, NameOf(other), new MemoryStream(file), file.Length, CancellationToken.None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("does not match its name", e.Message);
        Assert.Contains(BlobDigest.Compute(file).ToHex(), e.Message); // what the stored bytes hashed to
        Assert.Empty(await _blobs.ListAsync(CancellationToken.None).ToListAsync());
        Assert.Null(await _nix.OpenNarAsync(_cache, NameOf(other), CancellationToken.None));
        Assert.Empty(Directory.EnumerateFiles(_blobs.TemporaryDirectory));
    }

    [Theory]
    [InlineData(3000)]
    [InlineData(3 << 20)]
    public async Task A_nar_under_its_own_name_is_stored_under_the_hash_of_its_bytes(int size)
    {
        var file = ZstdNar(size, 3);

        var record = await _nix.PutNarAsync(_cache, NameOf(file), new MemoryStream(file), file.Length, CancellationToken.None);

        Assert.Equal(BlobDigest.Compute(file), record.FileHash);
        Assert.Equal(file.Length, record.FileSize);
        var handle = await _nix.OpenNarAsync(_cache, NameOf(file), CancellationToken.None);
        Assert.Equal(BlobDigest.Compute(file), handle!.Digest);
        Assert.Equal(file, await File.ReadAllBytesAsync(handle.LocalPath!));
    }

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
