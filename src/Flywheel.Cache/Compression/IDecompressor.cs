namespace Flywheel.Cache.Compression;

/// <summary>Receives decompressed bytes. The span is valid only during the call.</summary>
public interface IDecompressedSink
{
    void Write(ReadOnlySpan<byte> data);
}

/// <summary>
/// A push-based decompressor: compressed chunks go in as they arrive, decompressed bytes come out to a sink.
/// One instance decodes one stream. Implementations reuse one pooled output buffer and allocate nothing per chunk.
/// </summary>
public interface IDecompressor : IDisposable
{
    /// <summary>Decompresses <paramref name="input"/> (any size, including empty) and writes what it yields.</summary>
    /// <exception cref="CacheException">Invalid, when the input is not valid for the format.</exception>
    void Decompress(ReadOnlySpan<byte> input, IDecompressedSink sink);

    /// <summary>Flushes the rest after the last chunk.</summary>
    /// <exception cref="CacheException">Invalid, when the input was truncated or corrupt.</exception>
    void Finish(IDecompressedSink sink);
}
