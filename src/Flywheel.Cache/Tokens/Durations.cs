using System.Globalization;

namespace Flywheel.Cache.Tokens;

/// <summary>Durations as users type them: <c>30d</c>, <c>12h</c>, <c>90m</c>, <c>45s</c>.</summary>
public static class Durations
{
    public static TimeSpan Parse(string text)
    {
        text = text.Trim();
        if (text.Length >= 2 && long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            switch (text[^1])
            {
                case 'd': return TimeSpan.FromDays(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 's': return TimeSpan.FromSeconds(n);
            }
        }

        throw CacheException.Invalid($"{ClientText.Quote(text)} is not a duration: write a positive number followed by d, h, m or s (e.g. 30d)");
    }

    /// <summary>The largest unit that divides the duration exactly: <c>30d</c>, <c>36h</c>, <c>90m</c>, <c>45s</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        var seconds = (long)duration.TotalSeconds;
        return seconds switch
        {
            > 0 when seconds % 86_400 == 0 => (seconds / 86_400).ToString(CultureInfo.InvariantCulture) + "d",
            > 0 when seconds % 3_600 == 0 => (seconds / 3_600).ToString(CultureInfo.InvariantCulture) + "h",
            > 0 when seconds % 60 == 0 => (seconds / 60).ToString(CultureInfo.InvariantCulture) + "m",
            _ => seconds.ToString(CultureInfo.InvariantCulture) + "s",
        };
    }
}
