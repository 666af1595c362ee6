using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;
using Google.Protobuf;
using Microsoft.Data.Sqlite;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>
/// A <see cref="BazelCache"/> on the real DiskBlobStore and SqliteMetadataStore in a temporary folder, with the
/// index calls counted. Subclassed by the BazelCache test classes; xunit makes one per test.
/// </summary>
public abstract class BazelCacheFixture : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "flywheel-bazel-" + Guid.NewGuid().ToString("N"));
    private SqliteMetadataStore? _sqlite;

    protected static CancellationToken None => CancellationToken.None;

    protected ManualTimeProvider Time { get; } = new();

    protected DiskBlobStore Blobs { get; private set; } = null!;

    protected IMetadataIndex Index { get; private set; } = null!;

    protected CountingMetadataStore IndexCalls { get; private set; } = null!;

    protected BazelCache Cache { get; private set; } = null!;

    protected CacheContext Main { get; private set; } = null!;

    protected virtual BazelLimits Limits => BazelLimits.Default;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        Blobs = new DiskBlobStore(Path.Combine(_root, "blobs"), Time);
        _sqlite = new SqliteMetadataStore(Path.Combine(_root, "index.db"), Time);
        await _sqlite.MigrateAsync(None);
        (Index, IndexCalls) = CountingMetadataStore.Wrap(_sqlite);
        Cache = new BazelCache(Blobs, Index, Index, Limits, Time);
        Main = await new CacheCatalog(_sqlite, Time).CreateAsync("main", isPublic: true, priority: 40, None);
        IndexCalls.Calls.Clear();
    }

    public Task DisposeAsync()
    {
        _sqlite?.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    protected async Task<BazelDigest> PutAsync(string text)
    {
        var bytes = BazelFixtures.Bytes(text);
        var digest = BazelDigest.Compute(bytes);
        await Cache.PutAsync(Main, digest, bytes, None);
        return digest;
    }

    protected async Task<BazelDigest> PutAsync(IMessage message)
    {
        var bytes = message.ToByteArray();
        var digest = BazelDigest.Compute(bytes);
        await Cache.PutAsync(Main, digest, bytes, None);
        return digest;
    }

    protected async Task<byte[]?> ReadAsync(BazelDigest digest)
    {
        var handle = await Cache.OpenAsync(Main, digest, None);
        if (handle is null)
        {
            return null;
        }

        await using var stream = await handle.OpenReadAsync(None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    protected async Task<bool> StoredAnywhereAsync(BlobDigest digest) =>
        await Blobs.OpenAsync(digest, None) is not null || (await Index.FindMissingBlobsAsync([digest], None)).Count == 0;
}
