using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// Process and runtime gauges under the names stock Prometheus dashboards expect
/// (<c>process_resident_memory_bytes</c>, <c>process_cpu_seconds_total</c>, …). Read on each scrape.
/// </summary>
public sealed class ProcessMetrics
{
    public const string MeterName = "Flywheel.Cache.Process";

    private static readonly KeyValuePair<string, object?>[][] GenerationTags =
        [[new("generation", "gen0")], [new("generation", "gen1")], [new("generation", "gen2")]];

    public ProcessMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);

        double startTime;
        using (var process = Process.GetCurrentProcess())
        {
            startTime = new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;
        }

        Meter.CreateObservableGauge("process.resident_memory", static () => Environment.WorkingSet, "By", "Resident memory size.");
        Meter.CreateObservableCounter("process.cpu", static () => Environment.CpuUsage.TotalTime.TotalSeconds, "s", "User and system CPU time spent.");
        Meter.CreateObservableGauge("process.start_time", () => startTime, "s", "Start time of the process since the Unix epoch.");
        Meter.CreateObservableGauge("dotnet.gc.heap_size", static () => GC.GetTotalMemory(forceFullCollection: false), "By", "Bytes currently allocated on the managed heap.");
        Meter.CreateObservableCounter("dotnet.gc.collections", static () => CollectionCounts(), "{collection}", "Garbage collections by generation.");
    }

    public Meter Meter { get; }

    private static IEnumerable<Measurement<long>> CollectionCounts()
    {
        for (var generation = 0; generation < GenerationTags.Length; generation++)
        {
            yield return new Measurement<long>(GC.CollectionCount(generation), GenerationTags[generation]);
        }
    }
}
