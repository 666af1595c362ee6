using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Flywheel.Cache.Compression;

/// <summary>Throw helpers, kept out of line so the decode loops stay small.</summary>
internal static class DecompressionErrors
{
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Invalid(string format, string problem) =>
        throw CacheException.Invalid($"{format} data is invalid: {problem}");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Truncated(string format) =>
        throw CacheException.Invalid($"{format} data is truncated (the stream does not end)");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void TrailingData(string format) =>
        throw CacheException.Invalid($"{format} data has trailing bytes after the end of the stream");
}
