namespace Flywheel.Cache.Compression;

/// <summary>Creates the push decompressor for a compression, and decodes whole buffers for tests and tools.</summary>
public static class Decompressors
{
    public static IDecompressor Create(NarCompression compression) => compression switch
    {
        NarCompression.None => new PassthroughDecompressor(),
        NarCompression.Xz => new XzDecompressor(),
        NarCompression.Zstd => new ZstdDecompressor(),
        NarCompression.Brotli => new BrotliStreamDecompressor(),
        NarCompression.Bzip2 => new Bzip2Decompressor(),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };

    /// <summary>Decompresses a whole buffer (convenience; the upload path pushes chunks instead).</summary>
    public static byte[] DecompressAll(NarCompression compression, ReadOnlySpan<byte> input)
    {
        using var decompressor = Create(compression);
        var sink = new MemorySink();
        decompressor.Decompress(input, sink);
        decompressor.Finish(sink);
        return sink.Stream.ToArray();
    }

    private sealed class MemorySink : IDecompressedSink
    {
        public MemoryStream Stream { get; } = new();

        public void Write(ReadOnlySpan<byte> data) => Stream.Write(data);
    }
}
