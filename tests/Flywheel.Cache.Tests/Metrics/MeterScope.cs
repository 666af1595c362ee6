using System.Diagnostics.Metrics;
using Flywheel.Cache.Server.Metrics;

namespace Flywheel.Cache.Tests.Metrics;

/// <summary>A meter with a name of its own and an exporter that listens only to it, so tests running in parallel do not mix.</summary>
internal sealed class MeterScope : IDisposable
{
    public MeterScope(Action<PrometheusExporterOptions>? configure = null)
    {
        Name = "Flywheel.Cache.Tests." + Guid.NewGuid().ToString("N");
        Meter = new Meter(Name);
        var options = new PrometheusExporterOptions { MeterNamePrefix = Name };
        configure?.Invoke(options);
        Exporter = new PrometheusExporter(options);
    }

    public string Name { get; }

    public Meter Meter { get; }

    public PrometheusExporter Exporter { get; }

    public string Scrape() => Exporter.WriteToString();

    public void Dispose()
    {
        Exporter.Dispose();
        Meter.Dispose();
    }
}
