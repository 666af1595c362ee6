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

    [Fact]
    public unsafe void A_known_content_size_is_in_the_frame_header_and_sizes_the_tables_for_it()
    {
        var data = Enumerable.Range(0, 4000).Select(i => (byte)(i * 7 % 251)).ToArray();
        using var sized = new ZstdCompressor(contentSize: data.Length);
        var output = new ArrayBufferWriter<byte>();
        sized.Compress(data, output);
        sized.Finish(output);

        fixed (byte* frame = output.WrittenSpan)
        {
            Assert.Equal((ulong)data.Length, ZstdSharp.Unsafe.Methods.ZSTD_getFrameContentSize(frame, (nuint)output.WrittenCount));
        }

        Assert.Equal(data, SystemTool.Run("zstd", output.WrittenSpan.ToArray(), "-d", "-c", "-q"));
        // A stream of unknown size gets level 3's full window; 4000 bytes announced get a 4 KiB one (the header's
        // window descriptor, or a single-segment frame that needs no window beyond the content).
        fixed (byte* frame = output.WrittenSpan)
        {
            ZstdSharp.Unsafe.ZSTD_frameHeader header;
            Assert.Equal(0u, (uint)ZstdSharp.Unsafe.Methods.ZSTD_getFrameHeader(&header, frame, (nuint)output.WrittenCount));
            Assert.True(header.windowSize <= 4096, $"window {header.windowSize}");
        }

        var unsized = new ArrayBufferWriter<byte>();
        using (var compressor = new ZstdCompressor())
        {
            compressor.Compress(data, unsized);
            compressor.Finish(unsized);
        }

        fixed (byte* frame = unsized.WrittenSpan)
        {
            Assert.Equal(ulong.MaxValue, // ZSTD_CONTENTSIZE_UNKNOWN
                ZstdSharp.Unsafe.Methods.ZSTD_getFrameContentSize(frame, (nuint)unsized.WrittenCount));
        }
    }
}
