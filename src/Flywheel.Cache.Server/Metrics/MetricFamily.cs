using System.Collections.Concurrent;
using System.Text;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>How measurements of an instrument combine.</summary>
internal enum Aggregation
{
    /// <summary>Measurements add up (Counter, UpDownCounter).</summary>
    Sum,

    /// <summary>The last measurement wins (Gauge and every observable instrument, which report totals).</summary>
    LastValue,

    /// <summary>Measurements are counted into buckets with a sum (Histogram).</summary>
    Histogram,
}

/// <summary>
/// One Prometheus metric family: its name, type and help, and a series per distinct label set.
/// Recording looks the caller's tag span up directly (no allocation once a tag set was seen); a new tag set
/// takes a lock once to find or create its series under the sorted, sanitized label set, so tags given in a
/// different order (or as "200" versus 200) share one series.
/// </summary>
internal sealed class MetricFamily
{
    private const string OverflowLabels = "otel_metric_overflow=\"true\"";

    private readonly ConcurrentDictionary<TagSet, MetricSeries> _byTags = new(TagSetComparer.Instance);
    private readonly ConcurrentDictionary<TagSet, MetricSeries>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _lookup;
    private readonly Dictionary<string, MetricSeries> _byLabels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly int _maxSeries;
    private readonly int _bucketCount;
    private MetricSeries? _noTags;

    public MetricFamily(string name, string? help, string type, Aggregation aggregation, bool observable, double[]? bounds, int maxSeries)
    {
        Name = name;
        Help = string.IsNullOrEmpty(help) ? null : PrometheusNaming.EscapeHelp(help);
        Type = type;
        Aggregation = aggregation;
        Observable = observable;
        Bounds = bounds;
        BucketLabels = bounds?.Select(PrometheusNaming.FormatValue).Append("+Inf").ToArray();
        _bucketCount = bounds is null ? 0 : bounds.Length + 1;
        _maxSeries = maxSeries;
        _lookup = _byTags.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
    }

    public string Name { get; }

    /// <summary>Escaped HELP text, or null when the instrument has no description.</summary>
    public string? Help { get; }

    /// <summary><c>counter</c>, <c>gauge</c> or <c>histogram</c>.</summary>
    public string Type { get; }

    public Aggregation Aggregation { get; }

    /// <summary>Observable instruments report on collection; a series not reported by the latest collection is left out.</summary>
    public bool Observable { get; }

    /// <summary>Histogram upper bounds, ascending, without +Inf; null for other types.</summary>
    public double[]? Bounds { get; }

    /// <summary>The rendered <c>le</c> of each bucket, ending with <c>+Inf</c>.</summary>
    public string[]? BucketLabels { get; }

    public void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, long generation)
    {
        var series = GetSeries(tags);
        switch (Aggregation)
        {
            case Aggregation.Sum:
                series.Add(value);
                break;
            case Aggregation.LastValue:
                series.Set(value, generation);
                break;
            default:
                series.Observe(value, Bounds!);
                break;
        }
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, long generation)
    {
        var series = GetSeries(tags);
        switch (Aggregation)
        {
            case Aggregation.Sum:
                series.Add(value);
                break;
            case Aggregation.LastValue:
                series.Set(value, generation);
                break;
            default:
                series.Observe(value, Bounds!);
                break;
        }
    }

    /// <summary>The series ordered by their label text, for stable output.</summary>
    public MetricSeries[] SnapshotSeries()
    {
        MetricSeries[] series;
        lock (_gate)
        {
            series = [.. _byLabels.Values];
        }

        Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        return series;
    }

    private MetricSeries GetSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return _noTags ?? CreateSeries(tags);
        }

        return _lookup.TryGetValue(tags, out var series) ? series : CreateSeries(tags);
    }

    private MetricSeries CreateSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = RenderLabels(tags);
        lock (_gate)
        {
            if (!_byLabels.TryGetValue(labels, out var series))
            {
                if (_byLabels.Count >= _maxSeries)
                {
                    // Beyond the limit every new label set shares one overflow series (OpenTelemetry's convention),
                    // so a runaway tag value cannot grow memory without bound.
                    labels = OverflowLabels;
                    if (!_byLabels.TryGetValue(labels, out series))
                    {
                        series = new MetricSeries(labels, _bucketCount);
                        _byLabels.Add(labels, series);
                    }

                    return series;
                }

                series = new MetricSeries(labels, _bucketCount);
                _byLabels.Add(labels, series);
            }

            if (tags.IsEmpty)
            {
                _noTags = series;
            }
            else if (_byTags.Count < _maxSeries * 4)
            {
                _byTags.TryAdd(new TagSet(tags), series);
            }

            return series;
        }
    }

    /// <summary>
    /// <c>a="1",b="x"</c>: label names sanitized and sorted; tags whose names collide after sanitizing are
    /// joined with <c>;</c> in the order of their original keys; values escaped.
    /// </summary>
    internal static string RenderLabels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return "";
        }

        var pairs = new (string Name, string Key, string Value)[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            pairs[i] = (PrometheusNaming.LabelName(tags[i].Key), tags[i].Key, PrometheusNaming.LabelValue(tags[i].Value));
        }

        Array.Sort(pairs, static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Key, b.Key);
        });

        var builder = new StringBuilder();
        for (var i = 0; i < pairs.Length; i++)
        {
            if (i > 0 && pairs[i].Name == pairs[i - 1].Name)
            {
                if (pairs[i].Key == pairs[i - 1].Key)
                {
                    continue; // the same key twice: the first value counts
                }

                builder.Length--; // reopen the value: drop the closing quote
                builder.Append(';').Append(PrometheusNaming.EscapeLabelValue(pairs[i].Value)).Append('"');
                continue;
            }

            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(pairs[i].Name).Append("=\"").Append(PrometheusNaming.EscapeLabelValue(pairs[i].Value)).Append('"');
        }

        return builder.ToString();
    }
}
