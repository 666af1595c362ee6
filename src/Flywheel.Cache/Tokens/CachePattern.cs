namespace Flywheel.Cache.Tokens;

/// <summary>
/// The glob a token's cache pattern is written in: <c>*</c> matches any run of characters, <c>?</c> one
/// character, everything else itself. <c>*</c> alone covers every cache.
/// </summary>
public static class CachePattern
{
    public static bool IsValid(string pattern)
    {
        if (pattern.Length is 0 or > 128)
        {
            return false;
        }

        foreach (var c in pattern)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '*' or '?'))
            {
                return false;
            }
        }

        return true;
    }

    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        // Iterative glob match with single backtrack point: linear for patterns with one '*', and never exponential.
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[n]))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
