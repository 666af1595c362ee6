using System.Globalization;

namespace Flywheel.Cache.Caches;

/// <summary>Sizes as users type them: <c>1048576</c>, <c>512MiB</c>, <c>50GiB</c>, <c>2TiB</c> (and KB/MB/GB/TB in powers of ten).</summary>
public static class ByteSizes
{
    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("KB", 1_000L), ("MB", 1_000_000L), ("GB", 1_000_000_000L), ("TB", 1_000_000_000_000L),
        ("B", 1L),
    ];

    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var factor = 1L;
        var number = trimmed.AsSpan();
        foreach (var (suffix, unit) in Units)
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                factor = unit;
                number = trimmed.AsSpan(0, trimmed.Length - suffix.Length).TrimEnd();
                break;
            }
        }

        if (long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && n <= long.MaxValue / factor)
        {
            return n * factor;
        }

        throw CacheException.Invalid($"{ClientText.Quote(text)} is not a size: write a positive number of bytes, optionally with KiB, MiB, GiB or TiB (e.g. 50GiB)");
    }

    /// <summary>The largest binary unit that divides the size exactly: <c>50GiB</c>, <c>1536KiB</c>, <c>1000B</c>.</summary>
    public static string Format(long bytes)
    {
        for (var i = 3; i >= 0; i--)
        {
            var (suffix, factor) = Units[i];
            if (bytes >= factor && bytes % factor == 0)
            {
                return (bytes / factor).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        return bytes.ToString(CultureInfo.InvariantCulture) + "B";
    }
}
