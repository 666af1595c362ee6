using System.Diagnostics.Metrics;

namespace Flywheel.Cache.Tests.Metrics;

public class PrometheusExporterConcurrencyTests
{
    [Fact]
    public void Totals_are_exact_when_many_threads_record_while_scrapes_run()
    {
        const int threads = 8;
        const int perThread = 50_000;
        string[] routes = ["/a", "/b", "/c", "/d"];

        using var scope = new MeterScope();
        var counter = scope.Meter.CreateCounter<long>("flywheel.requests");
        var bytes = scope.Meter.CreateCounter<double>("flywheel.sent", "By");
        var histogram = scope.Meter.CreateHistogram("flywheel.duration", "s", null, tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5] });

        using var start = new Barrier(threads + 1);
        var done = 0;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < perThread; i++)
            {
                // A tag set first seen by many threads at once exercises series creation as well.
                var route = new KeyValuePair<string, object?>("route", routes[(i + t) % routes.Length]);
                var fresh = new KeyValuePair<string, object?>("n", (i % 50).ToString(System.Globalization.CultureInfo.InvariantCulture));
                counter.Add(1, route, fresh);
                bytes.Add(0.5, route);
                histogram.Record(i % 2 == 0 ? 0.25 : 1.0, route);
            }

            Interlocked.Increment(ref done);
        })).ToList();
        workers.ForEach(w => w.Start());
        start.SignalAndWait();

        while (Volatile.Read(ref done) < threads)
        {
            _ = scope.Scrape(); // scraping while recording must neither throw nor disturb the totals
        }

        workers.ForEach(w => w.Join());
        var text = scope.Scrape();

        var requests = PrometheusExpositionTests.Samples(text, "flywheel_requests_total");
        Assert.Equal(routes.Length * 50, requests.Count);
        Assert.Equal((long)threads * perThread, requests.Sum(s => s.Value));

        foreach (var route in routes)
        {
            var perRoute = (long)threads * perThread / routes.Length;
            Assert.Contains($"flywheel_sent_bytes_total{{route=\"{route}\"}} {perRoute / 2}\n", text, StringComparison.Ordinal);
            Assert.Contains($"flywheel_duration_seconds_bucket{{route=\"{route}\",le=\"0.5\"}} {perRoute / 2}\n", text, StringComparison.Ordinal);
            Assert.Contains($"flywheel_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {perRoute}\n", text, StringComparison.Ordinal);
            Assert.Contains($"flywheel_duration_seconds_count{{route=\"{route}\"}} {perRoute}\n", text, StringComparison.Ordinal);
            Assert.Contains($"flywheel_duration_seconds_sum{{route=\"{route}\"}} {perRoute / 2 * 1.25}\n", text, StringComparison.Ordinal);
        }
    }
}
