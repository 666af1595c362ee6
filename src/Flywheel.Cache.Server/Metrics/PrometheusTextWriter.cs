using System.Buffers;
using System.Globalization;
using System.Text;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>Writes metric families in the Prometheus text exposition format 0.0.4 as UTF-8.</summary>
internal sealed class PrometheusTextWriter(IBufferWriter<byte> output)
{
    private readonly IBufferWriter<byte> _output = output;

    public void WriteFamily(MetricFamily family, long generation)
    {
        var series = family.SnapshotSeries();
        if (family.Observable)
        {
            series = Array.FindAll(series, s => s.ObservedGeneration == generation);
        }

        if (series.Length == 0)
        {
            return;
        }

        if (family.Help is not null)
        {
            Write("# HELP ");
            Write(family.Name);
            Write(" ");
            Write(family.Help);
            Write("\n");
        }

        Write("# TYPE ");
        Write(family.Name);
        Write(" ");
        Write(family.Type);
        Write("\n");

        foreach (var s in series)
        {
            switch (family.Aggregation)
            {
                case Aggregation.Sum:
                    WriteSample(family.Name, "", s.Labels, null);
                    if (s.DoubleValue == 0)
                    {
                        WriteLong(s.LongValue);
                    }
                    else
                    {
                        WriteDouble(s.LongValue + s.DoubleValue);
                    }

                    Write("\n");
                    break;
                case Aggregation.LastValue:
                    WriteSample(family.Name, "", s.Labels, null);
                    WriteDouble(s.DoubleValue);
                    Write("\n");
                    break;
                default:
                    WriteHistogram(family, s);
                    break;
            }
        }
    }

    private void WriteHistogram(MetricFamily family, MetricSeries series)
    {
        var labels = family.BucketLabels!;
        Span<long> buckets = labels.Length <= 64 ? stackalloc long[labels.Length] : new long[labels.Length];
        series.CopyBuckets(buckets);

        // The count is the sum of the buckets read, so +Inf and _count always agree within one scrape.
        long cumulative = 0;
        for (var i = 0; i < buckets.Length; i++)
        {
            cumulative += buckets[i];
            WriteSample(family.Name, "_bucket", series.Labels, labels[i]);
            WriteLong(cumulative);
            Write("\n");
        }

        WriteSample(family.Name, "_sum", series.Labels, null);
        WriteDouble(series.Sum);
        Write("\n");
        WriteSample(family.Name, "_count", series.Labels, null);
        WriteLong(cumulative);
        Write("\n");
    }

    /// <summary>Writes <c>name suffix{labels,le="…"} </c>, leaving the value to the caller.</summary>
    private void WriteSample(string name, string suffix, string labels, string? le)
    {
        Write(name);
        Write(suffix);
        if (labels.Length > 0 || le is not null)
        {
            Write("{");
            Write(labels);
            if (le is not null)
            {
                Write(labels.Length > 0 ? ",le=\"" : "le=\"");
                Write(le);
                Write("\"");
            }

            Write("}");
        }

        Write(" ");
    }

    private void WriteLong(long value)
    {
        var span = _output.GetSpan(20);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        _output.Advance(written);
    }

    private void WriteDouble(double value)
    {
        if (!double.IsFinite(value))
        {
            Write(PrometheusNaming.FormatValue(value));
            return;
        }

        var span = _output.GetSpan(32);
        value.TryFormat(span, out var written, "R", CultureInfo.InvariantCulture);
        _output.Advance(written);
    }

    private void Write(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        var span = _output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        var written = Encoding.UTF8.GetBytes(text, span);
        _output.Advance(written);
    }
}
