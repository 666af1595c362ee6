using System.Globalization;
using System.Text;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// How an instrument's name, unit and tags become Prometheus names, following the OpenTelemetry-to-Prometheus
/// conventions: invalid characters become <c>_</c>, the unit is spelled out as a suffix (<c>s</c> → <c>_seconds</c>,
/// <c>By</c> → <c>_bytes</c>, <c>{request}</c> → nothing), monotonic counters end in <c>_total</c>.
/// </summary>
internal static class PrometheusNaming
{
    /// <summary>
    /// The metric family name for an instrument: sanitized, prefixed with <paramref name="namePrefix"/> unless it
    /// already starts with it or with one of <paramref name="exemptPrefixes"/>, then the unit suffix, then
    /// <c>_total</c> for counters.
    /// </summary>
    public static string MetricName(string instrumentName, string? unit, bool isCounter, string namePrefix, IReadOnlyList<string> exemptPrefixes)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        var prefixed = name.StartsWith(namePrefix, StringComparison.Ordinal);
        for (var i = 0; !prefixed && i < exemptPrefixes.Count; i++)
        {
            prefixed = name.StartsWith(exemptPrefixes[i], StringComparison.Ordinal);
        }

        if (!prefixed)
        {
            name = namePrefix + name;
        }

        if (char.IsAsciiDigit(name[0]))
        {
            name = "_" + name;
        }

        var unitSuffix = UnitSuffix(unit, isCounter);
        if (unitSuffix.Length > 0 && !name.EndsWith("_" + unitSuffix, StringComparison.Ordinal) && !name.EndsWith("_" + unitSuffix + "_total", StringComparison.Ordinal))
        {
            name = name + "_" + unitSuffix;
        }

        if (isCounter && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            name += "_total";
        }

        return name;
    }

    /// <summary>
    /// The suffix a UCUM unit contributes: <c>s</c> → <c>seconds</c>, <c>By</c> → <c>bytes</c>, <c>By/s</c> →
    /// <c>bytes_per_second</c>, annotations in braces vanish, <c>1</c> → <c>ratio</c> (gauges only), unknown units
    /// are sanitized and used as they are.
    /// </summary>
    public static string UnitSuffix(string? unit, bool isCounter)
    {
        if (string.IsNullOrWhiteSpace(unit))
        {
            return "";
        }

        var withoutAnnotations = StripAnnotations(unit).Trim();
        if (withoutAnnotations.Length == 0)
        {
            return "";
        }

        if (withoutAnnotations == "1")
        {
            return isCounter ? "" : "ratio";
        }

        var slash = withoutAnnotations.IndexOf('/');
        if (slash >= 0)
        {
            var numerator = SpellUnit(withoutAnnotations[..slash]);
            var denominator = SpellPerUnit(withoutAnnotations[(slash + 1)..]);
            return (numerator.Length, denominator.Length) switch
            {
                (0, 0) => "",
                (0, _) => "per_" + denominator,
                (_, 0) => numerator,
                _ => numerator + "_per_" + denominator,
            };
        }

        return SpellUnit(withoutAnnotations);
    }

    /// <summary>A label name: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>, invalid characters replaced by <c>_</c>, a leading digit prefixed with <c>_</c>.</summary>
    public static string LabelName(string key)
    {
        var name = Sanitize(key, allowColon: false);
        return name.Length > 0 && char.IsAsciiDigit(name[0]) ? "_" + name : name;
    }

    /// <summary>A tag value as label text: strings as they are, numbers and booleans in invariant form.</summary>
    public static string LabelValue(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Escapes a label value: backslash, double quote and newline.</summary>
    public static string EscapeLabelValue(string value)
    {
        if (value.AsSpan().IndexOfAny('\\', '"', '\n') < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => builder.Append(@"\\"),
                '"' => builder.Append("\\\""),
                '\n' => builder.Append(@"\n"),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }

    /// <summary>Escapes HELP text: backslash and newline.</summary>
    public static string EscapeHelp(string text)
    {
        if (text.AsSpan().IndexOfAny('\\', '\n') < 0)
        {
            return text;
        }

        return text.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);
    }

    /// <summary>A sample value: shortest round-trip form, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(value) => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string SpellUnit(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "bit" => "bits",
        "%" => "percent",
        "Hz" => "hertz",
        "Cel" => "celsius",
        _ => Sanitize(unit, allowColon: false).Trim('_'),
    };

    private static string SpellPerUnit(string unit) => unit switch
    {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => SpellUnit(unit),
    };

    private static string StripAnnotations(string unit)
    {
        if (!unit.Contains('{', StringComparison.Ordinal))
        {
            return unit;
        }

        var builder = new StringBuilder(unit.Length);
        var depth = 0;
        foreach (var c in unit)
        {
            if (c == '{')
            {
                depth++;
            }
            else if (c == '}' && depth > 0)
            {
                depth--;
            }
            else if (depth == 0)
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    /// <summary>Replaces every character outside <c>[a-zA-Z0-9_]</c> (and <c>:</c> when allowed) by <c>_</c> and collapses runs of <c>_</c>.</summary>
    private static string Sanitize(string text, bool allowColon)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            var valid = char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':');
            var next = valid ? c : '_';
            if (next == '_' && builder.Length > 0 && builder[^1] == '_')
            {
                continue;
            }

            builder.Append(next);
        }

        if (builder.Length == 0)
        {
            return "_";
        }

        return builder.ToString();
    }
}
