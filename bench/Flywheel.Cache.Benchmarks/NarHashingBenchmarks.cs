using BenchmarkDotNet.Attributes;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Benchmarks;

/// <summary>Upload verification throughput: hashing and decompressing a NAR as it streams in.</summary>
[MemoryDiagnoser]
public class NarHashingBenchmarks
{
    private byte[] _compressed = [];

    [Params(NarCompression.None, NarCompression.Zstd)]
    public NarCompression Compression { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var nar = NarSample.Create(8 * 1024 * 1024);
        _compressed = Compression == NarCompression.Zstd ? ZstdCompressor.CompressAll(nar) : nar;
    }

    [Benchmark]
    public NarHashResult HashEightMiB()
    {
        using var hasher = new NarHasher(Compression);
        for (var offset = 0; offset < _compressed.Length; offset += 128 * 1024)
        {
            hasher.Append(_compressed.AsSpan(offset, Math.Min(128 * 1024, _compressed.Length - offset)));
        }

        return hasher.Complete();
    }
}
