namespace Flywheel.Cache.Caches;

/// <summary>
/// Rules for cache (and Bazel instance) names: they become the first URL path segment, so they are short,
/// lower-case and free of anything a path or a shell could misread. Names starting with <c>_</c> are reserved
/// for the daemon's own routes (<c>/_api/…</c>).
/// </summary>
public static class CacheNames
{
    public const int MaxLength = 64;

    private static readonly HashSet<string> ReservedSet = new(StringComparer.Ordinal) { "ac", "cas", "metrics", "healthz", "readyz", "ui" };
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> ReservedLookup = ReservedSet.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Names that are first path segments of other routes (Bazel's <c>/ac/</c> and <c>/cas/</c>, health, metrics).</summary>
    /// <remarks>Declared after the set it exposes: static fields initialise in order.</remarks>
    public static readonly IReadOnlySet<string> Reserved = ReservedSet;

    public static bool IsValid(ReadOnlySpan<char> name)
    {
        if (name.Length is 0 or > MaxLength || !IsLowerAlnum(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!IsLowerAlnum(c) && c is not ('-' or '_' or '.'))
            {
                return false;
            }
        }

        return !name.Contains("..", StringComparison.Ordinal) && !ReservedLookup.Contains(name);
    }

    public static void Validate(string name)
    {
        if (!IsValid(name))
        {
            throw CacheException.Invalid(
                $"{ClientText.Quote(name)} is not a valid cache name: use 1 to {MaxLength} characters a-z, 0-9, '-', '_' or '.', starting with a letter or digit, and none of the reserved names {string.Join(", ", Reserved)}");
        }
    }

    private static bool IsLowerAlnum(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
}
