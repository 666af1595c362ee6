using BenchmarkDotNet.Attributes;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Postgres;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Benchmarks;

/// <summary>
/// FindMissingBlobs over the index: 10,000 digests, half of them owned by the asking cache, answered by one batched
/// query, on the embedded SQLite index and on a real PostgreSQL (started on loopback like the tests start it).
/// </summary>
[MemoryDiagnoser]
public class FindMissingBenchmarks
{
    private string _folder = "";
    private PostgresServer? _postgres;
    private IMetadataIndex _index = null!;
    private BazelCache _cache = null!;
    private CacheContext _main = null!;
    private BazelDigest[] _digests = [];

    [Params(10_000)]
    public int Count { get; set; }

    [Params("sqlite", "postgres")]
    public string Index { get; set; } = "sqlite";

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _folder = Path.Combine(Path.GetTempPath(), "flywheel-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
        if (Index == "postgres")
        {
            _postgres = new PostgresServer();
            await _postgres.InitializeAsync();
            _index = new PostgresMetadataStore(_postgres.ConnectionString(await _postgres.CreateDatabaseAsync("bench")));
        }
        else
        {
            _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"));
        }

        await _index.MigrateAsync(CancellationToken.None);
        _cache = new BazelCache(new DiskBlobStore(Path.Combine(_folder, "blobs")), _index, _index, BazelLimits.Default, TimeProvider.System);
        _main = await new CacheCatalog(_index, TimeProvider.System).CreateAsync("main", isPublic: true, priority: 40, CancellationToken.None);
        _digests = new BazelDigest[Count];
        for (var i = 0; i < Count; i++)
        {
            var content = BitConverter.GetBytes((long)i);
            _digests[i] = BazelDigest.Compute(content);
            if (i % 2 == 0)
            {
                await _index.RecordBlobAsync(_digests[i].Hash, content.Length, DateTimeOffset.UtcNow, CancellationToken.None);
            }
        }

        var owned = _digests.Where((_, i) => i % 2 == 0).Select(d => d.Hash).ToList();
        await _index.AddCacheBlobsAsync(_main.Id, owned, DateTimeOffset.UtcNow, CancellationToken.None);
    }

    [Benchmark]
    public async Task<int> FindMissingBlobs() => (await _cache.FindMissingAsync(_main, _digests, CancellationToken.None)).Count;

    [GlobalCleanup]
    public void Cleanup()
    {
        (_index as IDisposable)?.Dispose();
        _postgres?.DisposeAsync().GetAwaiter().GetResult();
        Directory.Delete(_folder, recursive: true);
    }
}
