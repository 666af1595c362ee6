using System.Diagnostics.Metrics;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>What <see cref="PrometheusExporter"/> listens to and how it names what it finds.</summary>
public sealed class PrometheusExporterOptions
{
    /// <summary>Default histogram bounds, for durations in seconds: 0.5 ms to 10 s.</summary>
    public static readonly IReadOnlyList<double> SecondsBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Meters named exactly this or starting with this and a dot are exported.</summary>
    public string MeterNamePrefix { get; set; } = "Flywheel.Cache";

    /// <summary>A further test on a meter (e.g. that it came from this host's <see cref="IMeterFactory"/>); null accepts all.</summary>
    public Func<Meter, bool>? MeterFilter { get; set; }

    /// <summary>Prepended to every metric name that lacks it (and is not in <see cref="UnprefixedNamespaces"/>).</summary>
    public string MetricNamePrefix { get; set; } = "flywheel_";

    /// <summary>Standard namespaces left as they are, so stock dashboards find them (<c>process_resident_memory_bytes</c>).</summary>
    public IReadOnlyList<string> UnprefixedNamespaces { get; set; } = ["process_", "dotnet_"];

    /// <summary>Histogram bounds when the instrument gives no <see cref="InstrumentAdvice{T}.HistogramBucketBoundaries"/>.</summary>
    public IReadOnlyList<double> DefaultHistogramBoundaries { get; set; } = SecondsBuckets;

    /// <summary>Distinct label sets kept per metric; further ones are counted under <c>otel_metric_overflow="true"</c>.</summary>
    public int MaxSeriesPerMetric { get; set; } = 2000;
}
