namespace Flywheel.Cache.Compression;

/// <summary>How a NAR file is compressed in a binary cache.</summary>
public enum NarCompression
{
    None,
    Xz,
    Zstd,
    Brotli,
    Bzip2,
}
