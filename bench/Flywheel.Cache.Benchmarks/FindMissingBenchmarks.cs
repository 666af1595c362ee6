using BenchmarkDotNet.Attributes;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Index.Sqlite;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;

namespace Flywheel.Cache.Benchmarks;

/// <summary>
/// FindMissingBlobs over the embedded index: 10,000 digests, half of them stored, answered by one batched query.
/// </summary>
[MemoryDiagnoser]
public class FindMissingBenchmarks
{
    private string _folder = "";
    private SqliteMetadataStore _index = null!;
    private BazelCache _cache = null!;
    private BazelDigest[] _digests = [];

    [Params(10_000)]
    public int Count { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _folder = Path.Combine(Path.GetTempPath(), "flywheel-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
        _index = new SqliteMetadataStore(Path.Combine(_folder, "index.sqlite"));
        _index.MigrateAsync(CancellationToken.None).GetAwaiter().GetResult();
        _cache = new BazelCache(new DiskBlobStore(Path.Combine(_folder, "blobs")), _index, BazelLimits.Default, TimeProvider.System);
        _digests = new BazelDigest[Count];
        for (var i = 0; i < Count; i++)
        {
            var content = BitConverter.GetBytes((long)i);
            _digests[i] = BazelDigest.Compute(content);
            if (i % 2 == 0)
            {
                _index.RecordBlobAsync(_digests[i].Hash, content.Length, DateTimeOffset.UtcNow, CancellationToken.None).GetAwaiter().GetResult();
            }
        }
    }

    [Benchmark]
    public async Task<int> FindMissingBlobs() => (await _cache.FindMissingAsync(_digests, CancellationToken.None)).Count;

    [GlobalCleanup]
    public void Cleanup()
    {
        _index.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
