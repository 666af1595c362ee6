using System.Buffers;
using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Tests.Compression;

public class DecompressorTests
{
    public static TheoryData<NarCompression> Compressed =>
        [NarCompression.Xz, NarCompression.Zstd, NarCompression.Brotli, NarCompression.Bzip2];

    // Text compresses well; random bytes do not: together they exercise buffers filling on both sides.
    private static readonly byte[] Sample = MakeSample(300_000);

    private static byte[] MakeSample(int size)
    {
        var random = new Random(42);
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = i % 3000 < 2000 ? (byte)('a' + (i % 26)) : (byte)random.Next(256);
        }

        return bytes;
    }

    internal static byte[] CompressWithSystemTool(NarCompression compression, byte[] data) => compression switch
    {
        NarCompression.Xz => SystemTool.Run("xz", data, "-c", "-3"),
        NarCompression.Zstd => SystemTool.Run("zstd", data, "-c", "-q"),
        NarCompression.Brotli => SystemTool.Run("brotli", data, "-c", "-q", "5"),
        NarCompression.Bzip2 => SystemTool.Run("bzip2", data, "-c"),
        _ => data,
    };

    private static byte[] Decompress(NarCompression compression, byte[] data, int chunk)
    {
        using var decompressor = Decompressors.Create(compression);
        var sink = new CollectingSink();
        for (var i = 0; i < data.Length; i += chunk)
        {
            decompressor.Decompress(data.AsSpan(i, Math.Min(chunk, data.Length - i)), sink);
            decompressor.Decompress(ReadOnlySpan<byte>.Empty, sink);
        }

        decompressor.Finish(sink);
        return sink.Written.ToArray();
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Decompresses_what_the_system_tool_compressed_in_any_chunking(NarCompression compression)
    {
        var compressed = CompressWithSystemTool(compression, Sample);
        foreach (var chunk in new[] { 1, 3, 1021, 65536, 65537, compressed.Length })
        {
            // 1-byte chunks over the whole sample are slow for little gain; use a prefix-sized sample there.
            var data = chunk == 1 ? CompressWithSystemTool(compression, Sample[..20_000]) : compressed;
            var expected = chunk == 1 ? Sample[..20_000] : Sample;
            Assert.Equal(expected, Decompress(compression, data, chunk));
        }
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Rejects_truncated_input(NarCompression compression)
    {
        var compressed = CompressWithSystemTool(compression, Sample);
        foreach (var length in new[] { 0, 1, 10, compressed.Length / 2, compressed.Length - 1 })
        {
            var ex = Assert.Throws<CacheException>(() => Decompress(compression, compressed[..length], 4096));
            Assert.Equal(CacheError.Invalid, ex.Error);
        }
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Rejects_garbage(NarCompression compression)
    {
        var garbage = MakeSample(5000);
        var ex = Assert.Throws<CacheException>(() => Decompress(compression, garbage, 4096));
        Assert.Equal(CacheError.Invalid, ex.Error);
    }

    [Theory]
    [InlineData(NarCompression.Xz)]
    [InlineData(NarCompression.Zstd)]
    [InlineData(NarCompression.Bzip2)]
    public void Decodes_concatenated_streams_as_one(NarCompression compression)
    {
        var a = CompressWithSystemTool(compression, Sample[..100_000]);
        var b = CompressWithSystemTool(compression, Sample[100_000..]);
        var both = a.Concat(b).ToArray();
        Assert.Equal(Sample, Decompress(compression, both, 777));
        Assert.Equal(Sample, Decompress(compression, both, both.Length));
    }

    [Fact]
    public void Brotli_rejects_bytes_after_the_end()
    {
        var compressed = CompressWithSystemTool(NarCompression.Brotli, Sample[..1000]);
        var ex = Assert.Throws<CacheException>(() => Decompress(NarCompression.Brotli, [.. compressed, 1, 2, 3], 4096));
        Assert.Contains("trailing", ex.Message);
    }

    [Fact]
    public void None_passes_bytes_through()
    {
        Assert.Equal(Sample, Decompress(NarCompression.None, Sample, 999));
        Assert.Empty(Decompress(NarCompression.None, [], 1));
    }

    [Fact]
    public void Write_stream_decompresses_into_another_stream()
    {
        var compressed = CompressWithSystemTool(NarCompression.Xz, Sample);
        var output = new MemoryStream();
        using (var stream = new DecompressingWriteStream(output, NarCompression.Xz, leaveOpen: true))
        {
            stream.Write(compressed, 0, 5);
            stream.Write(compressed.AsSpan(5));
            stream.Complete();
        }

        Assert.Equal(Sample, output.ToArray());

        using var truncated = new DecompressingWriteStream(new MemoryStream(), NarCompression.Xz);
        truncated.Write(compressed, 0, compressed.Length - 3);
        Assert.Throws<CacheException>(() => truncated.Complete());
    }

    [Fact]
    public void Dispose_is_idempotent_and_use_after_dispose_throws()
    {
        foreach (var compression in new[] { NarCompression.Xz, NarCompression.Zstd, NarCompression.Brotli, NarCompression.Bzip2 })
        {
            var d = Decompressors.Create(compression);
            d.Dispose();
            d.Dispose();
            Assert.Throws<ObjectDisposedException>(() => d.Decompress(new byte[] { 1 }, new CollectingSink()));
        }
    }

    internal sealed class CollectingSink : IDecompressedSink
    {
        public ArrayBufferWriter<byte> Written { get; } = new();

        public void Write(ReadOnlySpan<byte> data) => Written.Write(data);
    }
}

internal static class ArrayBufferWriterExtensions
{
    public static byte[] ToArray(this ArrayBufferWriter<byte> writer) => writer.WrittenSpan.ToArray();
}
