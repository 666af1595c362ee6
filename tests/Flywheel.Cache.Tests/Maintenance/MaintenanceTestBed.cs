using System.Text;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Maintenance;

/// <summary>
/// What the maintenance tests run on: the real disk store, a SQLite index and the Bazel cache over them, in a folder of
/// their own, with the clock under the test's control (days pass in a line).
/// </summary>
public abstract class MaintenanceTestBed : IAsyncLifetime
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "flywheel-maintenance-" + Guid.NewGuid().ToString("N"));

    protected MaintenanceTestBed(DateTimeOffset start) => Clock = new ManualTimeProvider(start);

    protected static CancellationToken None => CancellationToken.None;

    protected ManualTimeProvider Clock { get; }

    protected DiskBlobStore Blobs { get; private set; } = null!;

    protected SqliteMetadataStore Metadata { get; private set; } = null!;

    protected CacheCatalog Catalog { get; private set; } = null!;

    protected AccessTracker Access { get; private set; } = null!;

    protected BazelCache Bazel { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        Blobs = new DiskBlobStore(Path.Combine(_folder, "blobs"));
        Metadata = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"), Clock);
        await Metadata.MigrateAsync(None);
        Catalog = new CacheCatalog(Metadata, Clock);
        Access = new AccessTracker(Metadata, Metadata, Metadata, Clock);
        Bazel = new BazelCache(Blobs, Metadata, Metadata, BazelLimits.Default, Clock, Access);
    }

    public Task DisposeAsync()
    {
        Metadata.Dispose();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>Uploads <paramref name="size"/> bytes (<paramref name="seed"/>, padded) to the cache as a Bazel CAS blob.</summary>
    protected async Task<BazelDigest> PutAsync(CacheContext cache, string seed, int size)
    {
        var bytes = Encoding.UTF8.GetBytes(seed.PadRight(size, '.'));
        var digest = BazelDigest.Compute(bytes);
        await Bazel.PutAsync(cache, digest, bytes, None);
        return digest;
    }
}
