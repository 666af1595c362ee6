using System.Buffers;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;

namespace Flywheel.Cache.Benchmarks;

/// <summary>
/// The disk blob store: a verified write (temporary file, SHA-256 while writing, fsync, publish by link) and a
/// streamed read, for a small and a large blob. Every write writes and fsyncs all bytes; from the second one on the
/// blob exists, so the publish step finds it and drops the temporary file (as a repeated upload does).
/// </summary>
[MemoryDiagnoser]
public class BlobStoreBenchmarks
{
    private const int ChunkSize = 128 * 1024;

    private string _folder = "";
    private DiskBlobStore _store = null!;
    private byte[] _content = [];
    private BlobDigest _digest;

    [Params(1024 * 1024, 64 * 1024 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _folder = Path.Combine(Path.GetTempPath(), "flywheel-bench-" + Guid.NewGuid().ToString("N"));
        _store = new DiskBlobStore(_folder);
        _content = RandomNumberGenerator.GetBytes(Size);
        _digest = BlobDigest.Compute(_content);
        _store.WriteAsync(_content, _digest, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>Written in 128 KiB chunks, as the PUT routes feed it.</summary>
    [Benchmark]
    public async Task<long> Write()
    {
        await using var writer = await _store.BeginWriteAsync(_digest, CancellationToken.None);
        for (var offset = 0; offset < _content.Length; offset += ChunkSize)
        {
            await writer.WriteAsync(_content.AsMemory(offset, Math.Min(ChunkSize, _content.Length - offset)), CancellationToken.None);
        }

        return (await writer.CommitAsync(_digest, CancellationToken.None)).Size;
    }

    [Benchmark]
    public async Task<long> Read()
    {
        var blob = await _store.OpenAsync(_digest, CancellationToken.None) ?? throw new InvalidOperationException("blob missing");
        await using var stream = await blob.OpenReadAsync(CancellationToken.None);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, ChunkSize))) > 0)
            {
                total += read;
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);
}
