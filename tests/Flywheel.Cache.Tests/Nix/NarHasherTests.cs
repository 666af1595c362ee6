using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Tests.Nix;

public class NarHasherTests
{
    public static TheoryData<NarCompression> Compressions => NixFixtures.Compressions();

    private static IEnumerable<(NarInfo Info, byte[] File)> Fixtures(NarCompression compression) =>
        NixFixtures.NarInfos(compression).Select(x =>
        {
            var info = NarInfo.Parse(x.Text);
            return (info, File.ReadAllBytes(Path.Combine(NixFixtures.CacheDir(compression), info.Url)));
        });

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Reproduces_real_Nix_hashes_and_sizes(NarCompression compression)
    {
        foreach (var chunkSize in new[] { 1, 7, 4096, int.MaxValue })
        {
            foreach (var (info, file) in Fixtures(compression))
            {
                Assert.Equal(compression, info.CompressionKind);
                using var hasher = new NarHasher(compression);
                for (var i = 0; i < file.Length; i += chunkSize)
                {
                    hasher.Append(file.AsSpan(i, Math.Min(chunkSize, file.Length - i)));
                }

                var result = hasher.Complete();
                Assert.Equal(info.FileSize, result.FileSize);
                Assert.Equal(info.NarHash, result.NarHash);
                Assert.Equal(info.NarSize, result.NarSize);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Rejects_truncated_uploads(NarCompression compression)
    {
        foreach (var (info, file) in Fixtures(compression))
        {
            foreach (var length in new[] { 0, 1, 20, file.Length / 2, file.Length - 1 })
            {
                using var hasher = new NarHasher(compression);
                hasher.Append(file.AsSpan(0, Math.Min(length, 1)));
                hasher.Append(file.AsSpan(Math.Min(length, 1), length - Math.Min(length, 1)));
                var ex = Assert.Throws<CacheException>(() => hasher.Complete());
                Assert.Equal(CacheError.Invalid, ex.Error);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Rejects_corrupt_uploads(NarCompression compression)
    {
        // Formats without a checksum (zstd frames as Nix writes them, brotli, none) cannot always notice a flipped
        // byte; then the NarHash differs and the caller, which compares it with the narinfo, rejects the upload.
        var thrown = 0;
        foreach (var (info, file) in Fixtures(compression))
        {
            foreach (var position in new[] { 0, 3, 10, file.Length / 2, file.Length - 5 })
            {
                var corrupt = file.ToArray();
                corrupt[position] ^= 0x55;
                using var hasher = new NarHasher(compression);
                try
                {
                    hasher.Append(corrupt);
                    Assert.NotEqual(info.NarHash, hasher.Complete().NarHash);
                }
                catch (CacheException ex)
                {
                    Assert.Equal(CacheError.Invalid, ex.Error);
                    thrown++;
                }
            }
        }

        // At least the corrupted headers are always caught.
        Assert.True(thrown >= 3, $"only {thrown} corruptions were reported");
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Appending_chunks_does_not_allocate(NarCompression compression)
    {
        var (_, file) = Fixtures(compression).OrderByDescending(f => f.File.Length).First();
        for (var round = 0; round < 2; round++)
        {
            using var hasher = new NarHasher(compression);
            hasher.Append(file.AsSpan(0, 1));
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 1; i < file.Length; i += 61)
            {
                hasher.Append(file.AsSpan(i, Math.Min(61, file.Length - i)));
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            hasher.Complete();
            if (round == 1)
            {
                Assert.True(allocated == 0, $"{allocated} bytes allocated over {file.Length / 61} chunks");
            }
        }
    }

    [Fact]
    public void Rejects_data_that_is_not_a_NAR()
    {
        var notNar = "this is plain text, well over twenty-four bytes long"u8.ToArray();
        using var hasher = new NarHasher(NarCompression.Zstd);
        var ex = Assert.Throws<CacheException>(() => hasher.Append(ZstdCompressor.CompressAll(notNar)));
        Assert.Contains("nix-archive-1", ex.Message);

        using var short1 = new NarHasher(NarCompression.None);
        short1.Append(new byte[] { 13, 0, 0 });
        Assert.Contains("ends early, after 3 bytes", Assert.Throws<CacheException>(() => short1.Complete()).Message);
    }

    [Theory]
    [InlineData(NarCompression.None)]
    [InlineData(NarCompression.Zstd)] // the one format we compress; every decompressor feeds the same NAR check
    public void Rejects_a_whole_NAR_followed_by_more_data(NarCompression compression)
    {
        var (_, nar) = Fixtures(NarCompression.None).First();
        byte[] withJunk = [.. nar, .. "trailing junk"u8];
        var file = compression == NarCompression.None ? withJunk : ZstdCompressor.CompressAll(withJunk);

        using var hasher = new NarHasher(compression);
        var ex = Assert.Throws<CacheException>(() =>
        {
            hasher.Append(file);
            hasher.Complete();
        });
        Assert.Contains("after the end", ex.Message);
    }

    [Fact]
    public void Rejects_xz_data_sent_as_zstd()
    {
        var (_, file) = Fixtures(NarCompression.Xz).First();
        using var hasher = new NarHasher(NarCompression.Zstd);
        var ex = Assert.Throws<CacheException>(() => hasher.Append(file));
        Assert.Contains("zstd", ex.Message);
    }

    [Fact]
    public void Hashes_a_NAR_recompressed_by_us()
    {
        var (info, nar) = Fixtures(NarCompression.None).First();
        var compressed = ZstdCompressor.CompressAll(nar, 19);
        using var hasher = new NarHasher(NarCompression.Zstd);
        hasher.Append(compressed);
        var result = hasher.Complete();
        Assert.Equal(info.NarHash, result.NarHash);
        Assert.Equal(compressed.Length, result.FileSize);
    }
}
