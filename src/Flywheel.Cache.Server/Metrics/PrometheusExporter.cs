using System.Buffers;
using System.Diagnostics.Metrics;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// Listens to our meters with a <see cref="MeterListener"/>, aggregates every measurement per instrument and
/// label set, and renders the Prometheus text format 0.0.4. Recording is lock-free for a label set seen before;
/// rendering (and the observable instruments' callbacks) runs on the scraping thread, one scrape at a time.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The content type of <see cref="Write"/>'s output.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly PrometheusExporterOptions _options;
    private readonly double[] _defaultBounds;
    private readonly MeterListener _listener;
    private readonly Dictionary<string, MetricFamily> _families = new(StringComparer.Ordinal);
    private readonly Lock _familiesGate = new();
    private readonly Lock _scrapeGate = new();
    private long _generation;

    public PrometheusExporter(PrometheusExporterOptions? options = null)
    {
        _options = options ?? new PrometheusExporterOptions();
        _defaultBounds = NormalizeBounds(_options.DefaultHistogramBoundaries);
        _listener = new MeterListener { InstrumentPublished = OnInstrumentPublished };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((MetricFamily)state!).Record(value, tags, Volatile.Read(ref _generation)));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((MetricFamily)state!).Record(value, tags, Volatile.Read(ref _generation)));
        _listener.SetMeasurementEventCallback<short>((_, value, tags, state) => ((MetricFamily)state!).Record(value, tags, Volatile.Read(ref _generation)));
        _listener.SetMeasurementEventCallback<byte>((_, value, tags, state) => ((MetricFamily)state!).Record(value, tags, Volatile.Read(ref _generation)));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((MetricFamily)state!).Record(value, tags, Volatile.Read(ref _generation)));
        _listener.SetMeasurementEventCallback<float>((_, value, tags, state) => ((MetricFamily)state!).Record(value, tags, Volatile.Read(ref _generation)));
        _listener.SetMeasurementEventCallback<decimal>((_, value, tags, state) => ((MetricFamily)state!).Record((double)value, tags, Volatile.Read(ref _generation)));
        _listener.Start();
    }

    /// <summary>Collects the observable instruments and renders every metric family, ordered by name.</summary>
    public void Write(IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        lock (_scrapeGate)
        {
            var generation = Interlocked.Increment(ref _generation);
            _listener.RecordObservableInstruments();

            MetricFamily[] families;
            lock (_familiesGate)
            {
                families = [.. _families.Values];
            }

            Array.Sort(families, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            var writer = new PrometheusTextWriter(destination);
            foreach (var family in families)
            {
                writer.WriteFamily(family, generation);
            }
        }
    }

    /// <summary>Renders into <paramref name="destination"/>.</summary>
    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        Write(buffer);
        await destination.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The exposition as a string, for tests and diagnostics.</summary>
    public string WriteToString()
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        Write(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public void Dispose() => _listener.Dispose();

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!Accepts(instrument.Meter) || Classify(instrument) is not var (type, aggregation, observable, monotonic))
        {
            return;
        }

        var bounds = aggregation == Aggregation.Histogram ? AdvisedBounds(instrument) ?? _defaultBounds : null;
        var name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, monotonic, _options.MetricNamePrefix, _options.UnprefixedNamespaces);

        MetricFamily? family;
        lock (_familiesGate)
        {
            if (_families.TryGetValue(name, out family))
            {
                // The same name again (a second meter instance, say): share the family when it aggregates alike;
                // otherwise the exposition would carry two families of one name, so the newcomer is not exported.
                var compatible = family.Type == type && family.Aggregation == aggregation && family.Observable == observable
                    && (bounds is null || family.Bounds.AsSpan().SequenceEqual(bounds));
                if (!compatible)
                {
                    return;
                }
            }
            else
            {
                family = new MetricFamily(name, instrument.Description, type, aggregation, observable, bounds, _options.MaxSeriesPerMetric);
                _families.Add(name, family);
            }
        }

        listener.EnableMeasurementEvents(instrument, family);
    }

    private bool Accepts(Meter meter)
    {
        var prefix = _options.MeterNamePrefix;
        var named = meter.Name.StartsWith(prefix, StringComparison.Ordinal)
            && (meter.Name.Length == prefix.Length || meter.Name[prefix.Length] == '.');
        return named && (_options.MeterFilter?.Invoke(meter) ?? true);
    }

    private static (string Type, Aggregation Aggregation, bool Observable, bool Monotonic)? Classify(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType)
        {
            return null;
        }

        var definition = type.GetGenericTypeDefinition();
        return definition switch
        {
            _ when definition == typeof(Counter<>) => ("counter", Aggregation.Sum, false, true),
            _ when definition == typeof(UpDownCounter<>) => ("gauge", Aggregation.Sum, false, false),
            _ when definition == typeof(Gauge<>) => ("gauge", Aggregation.LastValue, false, false),
            _ when definition == typeof(Histogram<>) => ("histogram", Aggregation.Histogram, false, false),
            _ when definition == typeof(ObservableCounter<>) => ("counter", Aggregation.LastValue, true, true),
            _ when definition == typeof(ObservableUpDownCounter<>) => ("gauge", Aggregation.LastValue, true, false),
            _ when definition == typeof(ObservableGauge<>) => ("gauge", Aggregation.LastValue, true, false),
            _ => null,
        };
    }

    private static double[]? AdvisedBounds(Instrument instrument) => instrument switch
    {
        Histogram<double> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => v),
        Histogram<float> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => v),
        Histogram<long> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => v),
        Histogram<int> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => v),
        Histogram<short> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => v),
        Histogram<byte> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => v),
        Histogram<decimal> h => Convert(h.Advice?.HistogramBucketBoundaries, static v => (double)v),
        _ => null,
    };

    private static double[]? Convert<T>(IReadOnlyList<T>? bounds, Func<T, double> toDouble) =>
        bounds is null ? null : NormalizeBounds(bounds.Select(toDouble).ToArray());

    /// <summary>Ascending, distinct, finite; +Inf is implied.</summary>
    private static double[] NormalizeBounds(IEnumerable<double> bounds) =>
        bounds.Where(double.IsFinite).Distinct().Order().ToArray();
}
