using System.Diagnostics.Metrics;
using System.Text;
using Flywheel.Cache.Server.Metrics;

namespace Flywheel.Cache.Tests.Metrics;

public class PrometheusExpositionTests
{
    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    [Fact]
    public void Counter_gauge_and_histogram_render_as_golden_text()
    {
        using var scope = new MeterScope();
        var requests = scope.Meter.CreateCounter<long>("flywheel.http.requests", "{request}", "HTTP requests served.");
        requests.Add(2, Tag("route", "/{cache}/{hash}.narinfo"), Tag("method", "GET"));
        requests.Add(1, Tag("method", "GET"), Tag("route", "/{cache}/{hash}.narinfo")); // other order, same series
        requests.Add(1, Tag("route", "a\\b\"c\nd"), Tag("method", "PUT"));

        var inFlight = scope.Meter.CreateUpDownCounter<int>("flywheel.uploads.in_flight", "{upload}", "Uploads in progress.\nA \\ B");
        inFlight.Add(3);
        inFlight.Add(-1);

        var duration = scope.Meter.CreateHistogram("flywheel.blob.read.duration", "s", "Blob read time.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 1] });
        foreach (var value in new[] { 0.125, 0.25, 0.5, 4.0 })
        {
            duration.Record(value, Tag("op", "open"));
        }

        const string expected = """
            # HELP flywheel_blob_read_duration_seconds Blob read time.
            # TYPE flywheel_blob_read_duration_seconds histogram
            flywheel_blob_read_duration_seconds_bucket{op="open",le="0.25"} 2
            flywheel_blob_read_duration_seconds_bucket{op="open",le="1"} 3
            flywheel_blob_read_duration_seconds_bucket{op="open",le="+Inf"} 4
            flywheel_blob_read_duration_seconds_sum{op="open"} 4.875
            flywheel_blob_read_duration_seconds_count{op="open"} 4
            # HELP flywheel_http_requests_total HTTP requests served.
            # TYPE flywheel_http_requests_total counter
            flywheel_http_requests_total{method="GET",route="/{cache}/{hash}.narinfo"} 3
            flywheel_http_requests_total{method="PUT",route="a\\b\"c\nd"} 1
            # HELP flywheel_uploads_in_flight Uploads in progress.\nA \\ B
            # TYPE flywheel_uploads_in_flight gauge
            flywheel_uploads_in_flight 2

            """;
        Assert.Equal(expected.ReplaceLineEndings("\n"), scope.Scrape());
    }

    [Fact]
    public void Histogram_without_advice_uses_seconds_buckets_and_is_cumulative()
    {
        using var scope = new MeterScope();
        var histogram = scope.Meter.CreateHistogram<double>("flywheel.work.duration", "s");
        var values = new[] { 0.0001, 0.0005, 0.003, 0.003, 0.2, 7, 11, 20 };
        foreach (var value in values)
        {
            histogram.Record(value);
        }

        var buckets = Samples(scope.Scrape(), "flywheel_work_duration_seconds_bucket");
        Assert.Equal(PrometheusExporterOptions.SecondsBuckets.Count + 1, buckets.Count);
        Assert.Equal("0.0005", buckets[0].Le);
        Assert.Equal("10", buckets[^2].Le);
        Assert.Equal("+Inf", buckets[^1].Le);

        for (var i = 0; i < buckets.Count - 1; i++)
        {
            Assert.True(buckets[i].Value <= buckets[i + 1].Value, "buckets must be cumulative");
            var bound = double.Parse(buckets[i].Le, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(values.Count(v => v <= bound), buckets[i].Value);
        }

        var count = Samples(scope.Scrape(), "flywheel_work_duration_seconds_count").Single().Value;
        Assert.Equal(values.Length, count);
        Assert.Equal(count, buckets[^1].Value);
    }

    [Fact]
    public void Integer_histogram_takes_advised_bounds()
    {
        using var scope = new MeterScope();
        var sizes = scope.Meter.CreateHistogram("flywheel.nar.size", "By", null, tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1024, 1048576] });
        sizes.Record(10);
        sizes.Record(2048);
        sizes.Record(1 << 30);

        var text = scope.Scrape();
        Assert.Contains("flywheel_nar_size_bytes_bucket{le=\"1024\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_nar_size_bytes_bucket{le=\"1048576\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_nar_size_bytes_bucket{le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_nar_size_bytes_sum 1073743882\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Observable_instruments_report_current_values_and_drop_series_no_longer_reported()
    {
        using var scope = new MeterScope();
        var reported = new List<Measurement<long>> { new(5, Tag("cache", "main")), new(7, Tag("cache", "ci")) };
        scope.Meter.CreateObservableGauge("flywheel.narinfo.cache.entries", () => reported.ToArray(), "{entry}");
        long total = 100;
        scope.Meter.CreateObservableCounter("flywheel.gc.runs", () => total, "{run}");

        var first = scope.Scrape();
        Assert.Contains("# TYPE flywheel_narinfo_cache_entries gauge\n", first, StringComparison.Ordinal);
        Assert.Contains("flywheel_narinfo_cache_entries{cache=\"ci\"} 7\n", first, StringComparison.Ordinal);
        Assert.Contains("flywheel_narinfo_cache_entries{cache=\"main\"} 5\n", first, StringComparison.Ordinal);
        Assert.Contains("# TYPE flywheel_gc_runs_total counter\nflywheel_gc_runs_total 100\n", first, StringComparison.Ordinal);

        reported.RemoveAt(1);
        reported[0] = new(6, Tag("cache", "main"));
        total = 101;
        var second = scope.Scrape();
        Assert.Contains("flywheel_narinfo_cache_entries{cache=\"main\"} 6\n", second, StringComparison.Ordinal);
        Assert.DoesNotContain("cache=\"ci\"", second, StringComparison.Ordinal);
        Assert.Contains("flywheel_gc_runs_total 101\n", second, StringComparison.Ordinal);
    }

    [Fact]
    public void Tag_values_of_different_types_that_render_alike_share_a_series()
    {
        using var scope = new MeterScope();
        var counter = scope.Meter.CreateCounter<long>("flywheel.responses");
        counter.Add(1, Tag("status", 200));
        counter.Add(1, Tag("status", "200"));

        Assert.Contains("flywheel_responses_total{status=\"200\"} 2\n", scope.Scrape(), StringComparison.Ordinal);
    }

    [Fact]
    public void Colliding_label_names_are_joined()
    {
        using var scope = new MeterScope();
        var counter = scope.Meter.CreateCounter<long>("flywheel.things");
        counter.Add(1, Tag("a.b", "x"), Tag("a_b", "y"));

        Assert.Contains("flywheel_things_total{a_b=\"x;y\"} 1\n", scope.Scrape(), StringComparison.Ordinal);
    }

    [Fact]
    public void Series_beyond_the_limit_go_to_one_overflow_series()
    {
        using var scope = new MeterScope(options => options.MaxSeriesPerMetric = 2);
        var counter = scope.Meter.CreateCounter<long>("flywheel.paths");
        counter.Add(1, Tag("p", "a"));
        counter.Add(1, Tag("p", "b"));
        counter.Add(1, Tag("p", "c"));
        counter.Add(1, Tag("p", "d"));
        counter.Add(1, Tag("p", "a"));

        var lines = Samples(scope.Scrape(), "flywheel_paths_total");
        Assert.Equal(3, lines.Count);
        Assert.Contains("flywheel_paths_total{otel_metric_overflow=\"true\"} 2\n", scope.Scrape(), StringComparison.Ordinal);
    }

    [Fact]
    public void Double_and_long_counters_and_gauges_render()
    {
        using var scope = new MeterScope();
        scope.Meter.CreateCounter<double>("flywheel.work", "s").Add(1.5);
        scope.Meter.CreateGauge<double>("flywheel.disk.fill", "1").Record(0.25);
        scope.Meter.CreateCounter<long>("flywheel.big", "By").Add(long.MaxValue - 1);

        var text = scope.Scrape();
        Assert.Contains("flywheel_work_seconds_total 1.5\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE flywheel_disk_fill_ratio gauge\nflywheel_disk_fill_ratio 0.25\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_big_bytes_total 9223372036854775806\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Same_named_instruments_share_a_family_and_conflicting_ones_are_left_out()
    {
        using var scope = new MeterScope();
        using var second = new Meter(scope.Name + ".Second");
        scope.Meter.CreateCounter<long>("flywheel.hits").Add(2);
        second.CreateCounter<long>("flywheel.hits").Add(3);
        second.CreateUpDownCounter<long>("flywheel.hits_total").Add(100); // same Prometheus name, other type

        var text = scope.Scrape();
        Assert.Single(Samples(text, "flywheel_hits_total"));
        Assert.Contains("# TYPE flywheel_hits_total counter\nflywheel_hits_total 5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Meters_outside_the_prefix_are_ignored()
    {
        using var scope = new MeterScope();
        using var other = new Meter(scope.Name + "Other"); // shares the prefix text, not a dotted child
        other.CreateCounter<long>("flywheel.elsewhere").Add(1);
        scope.Meter.CreateCounter<long>("flywheel.here").Add(1);

        var text = scope.Scrape();
        Assert.Contains("flywheel_here_total 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("elsewhere", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteAsync_writes_the_same_text_to_a_stream()
    {
        using var scope = new MeterScope();
        scope.Meter.CreateCounter<long>("flywheel.hits").Add(1, Tag("cache", "é"));
        using var stream = new MemoryStream();
        await scope.Exporter.WriteAsync(stream);

        Assert.Equal(scope.Scrape(), Encoding.UTF8.GetString(stream.ToArray()));
        Assert.Contains("{cache=\"é\"} 1", scope.Scrape(), StringComparison.Ordinal);
    }

    [Fact]
    public void Recording_with_a_seen_tag_set_does_not_allocate()
    {
        using var scope = new MeterScope();
        var counter = scope.Meter.CreateCounter<long>("flywheel.requests");
        var histogram = scope.Meter.CreateHistogram<double>("flywheel.duration", "s");
        var route = Tag("route", "/{cache}/{hash}.narinfo");
        var method = Tag("method", "GET");
        var status = Tag("status", "200");
        counter.Add(1, route, method, status);
        histogram.Record(0.01, route, method, status);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            counter.Add(1, route, method, status);
            histogram.Record(0.01, route, method, status);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    internal static List<(string Le, long Value)> Samples(string text, string name)
    {
        var samples = new List<(string, long)>();
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || (line[name.Length] != ' ' && line[name.Length] != '{'))
            {
                continue;
            }

            var le = "";
            var leStart = line.IndexOf("le=\"", StringComparison.Ordinal);
            if (leStart >= 0)
            {
                leStart += 4;
                le = line[leStart..line.IndexOf('"', leStart)];
            }

            samples.Add((le, long.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
        }

        return samples;
    }
}
