using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Tests.Compression;

public class NarCompressionsTests
{
    [Theory]
    [InlineData(NarCompression.None, "none", "")]
    [InlineData(NarCompression.Xz, "xz", ".xz")]
    [InlineData(NarCompression.Zstd, "zstd", ".zst")]
    [InlineData(NarCompression.Brotli, "br", ".br")]
    [InlineData(NarCompression.Bzip2, "bzip2", ".bz2")]
    public void Maps_names_both_ways(NarCompression compression, string narInfoName, string extension)
    {
        Assert.Equal(narInfoName, compression.ToNarInfoName());
        Assert.Equal(extension, compression.ToExtension());
        Assert.True(NarCompressions.TryFromNarInfoName(narInfoName, out var a));
        Assert.Equal(compression, a);
        Assert.True(NarCompressions.TryFromExtension(extension, out var b));
        Assert.Equal(compression, b);
        Assert.True(NarCompressions.TryFromExtension(".nar" + extension, out var c));
        Assert.Equal(compression, c);
    }

    [Theory]
    [InlineData(".gz")]
    [InlineData(".zstd")]
    [InlineData("nar.xz")]
    [InlineData(".XZ")]
    [InlineData(".nar.")]
    public void Rejects_unknown_extensions(string ext) => Assert.False(NarCompressions.TryFromExtension(ext, out _));

    [Theory]
    [InlineData("gzip")]
    [InlineData("zst")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("XZ")]
    public void Rejects_unknown_narinfo_names(string? name) => Assert.False(NarCompressions.TryFromNarInfoName(name, out _));
}
