using System.Buffers;
using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Tests.Compression;

public class ZstdCompressorTests
{
    [Fact]
    public void System_zstd_decompresses_what_we_compress_in_chunks()
    {
        var data = Enumerable.Range(0, 500_000).Select(i => (byte)(i * 7 % 251)).ToArray();
        using var compressor = new ZstdCompressor(5);
        var output = new ArrayBufferWriter<byte>();
        for (var i = 0; i < data.Length; i += 12_345)
        {
            compressor.Compress(data.AsSpan(i, Math.Min(12_345, data.Length - i)), output);
        }

        compressor.Finish(output);
        Assert.Equal(data, SystemTool.Run("zstd", output.WrittenSpan.ToArray(), "-d", "-c", "-q"));
        Assert.Equal(data, Decompressors.DecompressAll(NarCompression.Zstd, output.WrittenSpan));
    }

    [Fact]
    public void Compresses_empty_input_to_a_valid_frame()
    {
        var frame = ZstdCompressor.CompressAll([]);
        Assert.NotEmpty(frame);
        Assert.Empty(Decompressors.DecompressAll(NarCompression.Zstd, frame));
    }
}
