using System.Diagnostics.CodeAnalysis;

namespace Flywheel.Cache.Compression;

/// <summary>
/// The names of <see cref="NarCompression"/> values: in narinfo files (<c>Compression: xz</c>) and in NAR URLs
/// (<c>nar/&lt;filehash&gt;.nar.xz</c>).
/// </summary>
public static class NarCompressions
{
    /// <summary>
    /// Maps a NAR URL suffix to a compression. Accepts the part after <c>.nar</c> with or without the dot
    /// (<c>""</c>, <c>.xz</c>, <c>xz</c>, <c>.zst</c>, <c>.br</c>, <c>.bz2</c>) or the whole <c>.nar.xz</c> form.
    /// </summary>
    public static bool TryFromExtension(ReadOnlySpan<char> ext, out NarCompression compression)
    {
        if (ext.StartsWith(".nar", StringComparison.Ordinal))
        {
            ext = ext[4..];
        }

        if (ext.IsEmpty)
        {
            compression = NarCompression.None;
            return true;
        }

        if (ext[0] == '.')
        {
            ext = ext[1..];
        }

        switch (ext)
        {
            case "xz":
                compression = NarCompression.Xz;
                return true;
            case "zst":
                compression = NarCompression.Zstd;
                return true;
            case "br":
                compression = NarCompression.Brotli;
                return true;
            case "bz2":
                compression = NarCompression.Bzip2;
                return true;
            default:
                compression = default;
                return false;
        }
    }

    /// <summary>Maps a narinfo <c>Compression</c> value (<c>none</c>, <c>xz</c>, <c>zstd</c>, <c>br</c>, <c>bzip2</c>).</summary>
    public static bool TryFromNarInfoName([NotNullWhen(true)] string? name, out NarCompression compression)
    {
        switch (name)
        {
            case "none":
                compression = NarCompression.None;
                return true;
            case "xz":
                compression = NarCompression.Xz;
                return true;
            case "zstd":
                compression = NarCompression.Zstd;
                return true;
            case "br":
                compression = NarCompression.Brotli;
                return true;
            case "bzip2":
                compression = NarCompression.Bzip2;
                return true;
            default:
                compression = default;
                return false;
        }
    }

    public static string ToNarInfoName(this NarCompression compression) => compression switch
    {
        NarCompression.None => "none",
        NarCompression.Xz => "xz",
        NarCompression.Zstd => "zstd",
        NarCompression.Brotli => "br",
        NarCompression.Bzip2 => "bzip2",
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };

    /// <summary>The URL suffix after <c>.nar</c>, including its dot (<c>""</c> for none, <c>.xz</c>, …).</summary>
    public static string ToExtension(this NarCompression compression) => compression switch
    {
        NarCompression.None => "",
        NarCompression.Xz => ".xz",
        NarCompression.Zstd => ".zst",
        NarCompression.Brotli => ".br",
        NarCompression.Bzip2 => ".bz2",
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };
}
