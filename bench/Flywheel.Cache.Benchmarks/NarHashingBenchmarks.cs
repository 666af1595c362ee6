using BenchmarkDotNet.Attributes;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Benchmarks;

/// <summary>Upload verification throughput: hashing and decompressing a NAR as it streams in, for every compression Nix uses.</summary>
[MemoryDiagnoser]
public class NarHashingBenchmarks
{
    private const int ChunkSize = 128 * 1024;

    private byte[] _compressed = [];

    [Params(NarCompression.None, NarCompression.Zstd, NarCompression.Xz, NarCompression.Bzip2, NarCompression.Brotli)]
    public NarCompression Compression { get; set; }

    [GlobalSetup]
    public void Setup() => _compressed = NarSample.Compress(NarSample.Create(8 * 1024 * 1024), Compression);

    /// <summary>An 8 MiB NAR (as sent: compressed) in 128 KiB chunks, as the NAR PUT route feeds it.</summary>
    [Benchmark]
    public NarHashResult HashEightMiB()
    {
        using var hasher = new NarHasher(Compression);
        for (var offset = 0; offset < _compressed.Length; offset += ChunkSize)
        {
            hasher.Append(_compressed.AsSpan(offset, Math.Min(ChunkSize, _compressed.Length - offset)));
        }

        return hasher.Complete();
    }
}
