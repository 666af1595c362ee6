using System.Security.Cryptography;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Server.Cli;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Server.Cli;

/// <summary>
/// <see cref="PushSpool"/>, where <c>flywheel push</c> keeps a compressed NAR until it is sent: in its one pooled buffer
/// while it fits, in a temporary file past that, hashed either way; the NAR must have the size the local store recorded.
/// </summary>
public class PushSpoolTests
{
    [Theory]
    [InlineData(4_000)] // a few KiB: stays in the pooled buffer
    [InlineData(3 * 1024 * 1024)] // incompressible 3 MiB: spills to a temporary file
    public async Task The_body_is_the_compressed_nar_and_its_hash_and_size_name_it(int narSize)
    {
        var nar = RandomNumberGenerator.GetBytes(narSize);
        long progress = 0;
        await using var spool = new PushSpool(new ZstdCompressor(contentSize: narSize), narSize, n => progress += n);
        for (var i = 0; i < nar.Length; i += 100_000)
        {
            await spool.WriteAsync(nar.AsMemory(i, Math.Min(100_000, nar.Length - i)));
        }

        var fileHash = spool.Complete();
        using var content = spool.Content();
        var body = await content.ReadAsByteArrayAsync();

        Assert.Equal(narSize > PushSpool.MemoryLimit ? typeof(StreamContent) : typeof(ReadOnlyMemoryContent), content.GetType());
        Assert.Equal(BlobDigest.Compute(body), fileHash);
        Assert.Equal(body.Length, spool.FileSize);
        Assert.Equal(nar, Decompressors.DecompressAll(NarCompression.Zstd, body));
        Assert.Equal(narSize, spool.NarBytes);
        Assert.Equal(narSize, progress);
    }

    [Fact]
    public async Task A_nar_larger_than_the_local_store_recorded_fails_the_path_before_it_is_compressed()
    {
        await using var spool = new PushSpool(new ZstdCompressor(contentSize: 1000), 1000, _ => { });
        await spool.WriteAsync(new byte[600]);

        var e = await Assert.ThrowsAsync<IOException>(async () => await spool.WriteAsync(new byte[600]));
        Assert.Contains("larger than the 1000 bytes the local store recorded", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_nar_smaller_than_the_local_store_recorded_fails_the_path()
    {
        await using var spool = new PushSpool(new ZstdCompressor(contentSize: 1000), 1000, _ => { });
        await spool.WriteAsync(new byte[600]);

        var e = Assert.Throws<IOException>(() => spool.Complete());
        Assert.Contains("the NAR has 600 bytes, the local store recorded 1000", e.Message, StringComparison.Ordinal);
    }
}
