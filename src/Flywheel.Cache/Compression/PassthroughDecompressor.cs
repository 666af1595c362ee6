namespace Flywheel.Cache.Compression;

/// <summary>Compression <c>none</c>: the bytes go to the sink as they are.</summary>
public sealed class PassthroughDecompressor : IDecompressor
{
    public void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink)
    {
        if (!input.IsEmpty)
        {
            sink.Write(input);
        }
    }

    public void Finish(IDecompressedSink sink)
    {
    }

    public void Dispose()
    {
    }
}
