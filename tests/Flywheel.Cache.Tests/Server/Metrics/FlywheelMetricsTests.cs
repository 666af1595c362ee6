using System.Text;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Metrics;

namespace Flywheel.Cache.Tests.Server.Metrics;

/// <summary>The names, labels, units and buckets README documents, as prometheus-net renders them from one host's registry.</summary>
public class FlywheelMetricsTests
{
    private readonly FlywheelMetrics _metrics = new(Prometheus.Metrics.NewCustomRegistry());

    private async Task<string> ScrapeAsync()
    {
        using var stream = new MemoryStream();
        await _metrics.Registry.CollectAndExportAsTextAsync(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task Every_documented_metric_has_its_name_type_and_labels()
    {
        _metrics.RecordHttpRequest("/{cache}/{hash}.narinfo", "GET", 200, TimeSpan.FromMilliseconds(3), requestBytes: 10, responseBytes: 20);
        _metrics.RecordNarInfoLookup("main", hit: false);
        _metrics.RecordBlobStoreOperation(BlobStoreOperation.FindMissing, succeeded: true, TimeSpan.FromMilliseconds(1));
        _metrics.RecordUploadRejected("hash_mismatch");
        _metrics.RecordGcRun("completed");
        _metrics.RecordGcRemovedBlob("orphan", 5);
        _metrics.RecordGcRemovedEntries("main", "narinfo", 2);
        _metrics.RecordCacheUsage([("main", 100, 1000)]);
        _metrics.RecordBuildAttempt(new BuildAttemptRecord(
            "b1", 1, ".#x", "small", BuildOutcome.OutOfMemory, ExitCode: 137, PeakMemoryBytes: 1L << 30, "cgroup-v2", 0, 0,
            [new BuildPhase("build", TimeSpan.FromSeconds(2), Succeeded: false)], DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch));
        _metrics.RecordOomReroute("small", "big");
        _metrics.RecordActiveBuilds([new BuildCount("small", BuildStatus.Queued, 3), new BuildCount("small", BuildStatus.Running, 1)]);

        var text = await ScrapeAsync();
        string[] expected =
        [
            "# TYPE flywheel_http_requests_total counter\n",
            "flywheel_http_requests_total{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"200\"} 1\n",
            "# TYPE flywheel_http_request_duration_seconds histogram\n",
            "flywheel_http_request_duration_seconds_bucket{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"200\",le=\"0.0025\"} 0\n",
            "flywheel_http_request_duration_seconds_bucket{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"200\",le=\"0.005\"} 1\n",
            "flywheel_http_request_duration_seconds_count{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"200\"} 1\n",
            "flywheel_http_received_bytes_total{route=\"/{cache}/{hash}.narinfo\"} 10\n",
            "flywheel_http_sent_bytes_total{route=\"/{cache}/{hash}.narinfo\"} 20\n",
            "flywheel_narinfo_lookups_total{cache=\"main\",result=\"miss\"} 1\n",
            "flywheel_blob_store_operations_total{op=\"find_missing\",result=\"ok\"} 1\n",
            "flywheel_blob_store_operation_duration_seconds_count{op=\"find_missing\",result=\"ok\"} 1\n",
            "flywheel_uploads_rejected_total{reason=\"hash_mismatch\"} 1\n",
            "flywheel_gc_runs_total{result=\"completed\"} 1\n",
            "flywheel_gc_removed_blobs_total{reason=\"orphan\"} 1\n",
            "flywheel_gc_removed_bytes_total{reason=\"orphan\"} 5\n",
            "flywheel_gc_removed_entries_total{cache=\"main\",kind=\"narinfo\"} 2\n",
            "# TYPE flywheel_cache_blobs_bytes gauge\n",
            "flywheel_cache_blobs_bytes{cache=\"main\"} 100\n",
            "flywheel_cache_quota_bytes{cache=\"main\"} 1000\n",
            "flywheel_build_attempts_total{lane=\"small\",outcome=\"oom\"} 1\n",
            "flywheel_build_phase_duration_seconds_bucket{lane=\"small\",phase=\"build\",le=\"1\"} 0\n",
            "flywheel_build_phase_duration_seconds_bucket{lane=\"small\",phase=\"build\",le=\"5\"} 1\n",
            "flywheel_build_phase_duration_seconds_bucket{lane=\"small\",phase=\"build\",le=\"14400\"} 1\n",
            "flywheel_build_peak_memory_bytes_bucket{lane=\"small\",le=\"536870912\"} 0\n",
            "flywheel_build_peak_memory_bytes_bucket{lane=\"small\",le=\"1073741824\"} 1\n",
            "flywheel_build_peak_memory_bytes_sum{lane=\"small\"} 1073741824\n",
            "flywheel_build_oom_reroutes_total{lane=\"small\",to=\"big\"} 1\n",
            "# TYPE flywheel_build_queue_depth gauge\n",
            "flywheel_build_queue_depth{lane=\"small\"} 3\n",
            "flywheel_build_running{lane=\"small\"} 1\n",
            "# TYPE flywheel_upstream_fetches_total counter\n",
            "# TYPE flywheel_upstream_circuit_open gauge\n", // their series: ReadThroughTests
        ];
        foreach (var line in expected)
        {
            Assert.Contains(line, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Duration_histograms_use_the_seconds_buckets_cumulatively()
    {
        double[] seconds = [0.0001, 0.0005, 0.003, 0.003, 0.2, 7, 11, 20];
        foreach (var value in seconds)
        {
            _metrics.RecordBlobStoreOperation(BlobStoreOperation.Open, succeeded: false, TimeSpan.FromSeconds(value));
        }

        var text = await ScrapeAsync();
        var prefix = "flywheel_blob_store_operation_duration_seconds_bucket{op=\"open\",result=\"error\",le=\"";
        var buckets = text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(FlywheelMetrics.SecondsBuckets.Count + 1, buckets.Count);
        foreach (var bound in FlywheelMetrics.SecondsBuckets)
        {
            var le = bound.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains($"{prefix}{le}\"}} {seconds.Count(v => v <= bound)}", buckets);
        }

        Assert.Contains($"{prefix}+Inf\"}} {seconds.Length}", buckets);
        Assert.Contains("flywheel_blob_store_operation_duration_seconds_count{op=\"open\",result=\"error\"} 8\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gauges_show_what_was_last_measured_and_drop_series_no_longer_reported()
    {
        _metrics.RecordCacheUsage([("main", 5, null), ("ci", 7, 70)]);
        var first = await ScrapeAsync();
        Assert.Contains("flywheel_cache_blobs_bytes{cache=\"ci\"} 7\n", first, StringComparison.Ordinal);
        Assert.Contains("flywheel_cache_quota_bytes{cache=\"ci\"} 70\n", first, StringComparison.Ordinal);
        Assert.DoesNotContain("flywheel_cache_quota_bytes{cache=\"main\"}", first, StringComparison.Ordinal);

        _metrics.RecordCacheUsage([("main", 6, null)]);
        var second = await ScrapeAsync();
        Assert.Contains("flywheel_cache_blobs_bytes{cache=\"main\"} 6\n", second, StringComparison.Ordinal);
        Assert.DoesNotContain("cache=\"ci\"", second, StringComparison.Ordinal);
    }

    [Fact]
    public void Recording_a_series_seen_before_does_not_allocate()
    {
        void RecordHotPaths()
        {
            _metrics.RecordHttpRequest("/{cache}/{hash}.narinfo", "GET", 200, TimeSpan.FromMilliseconds(1), requestBytes: null, responseBytes: 300);
            _metrics.RecordHttpRequest("/cas/{hash}", "PUT", 404, TimeSpan.FromMilliseconds(2), requestBytes: 1 << 20, responseBytes: null);
            _metrics.RecordNarInfoLookup("main", hit: true);
            _metrics.RecordBlobStoreOperation(BlobStoreOperation.FindMissing, succeeded: true, TimeSpan.FromMilliseconds(1));
        }

        const int calls = 10_000;
        RecordHotPaths();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < calls; i++)
        {
            RecordHotPaths();
        }

        // nothing per call: one-off runtime allocations (tiering up the loop) can add a few bytes once, never one object a call
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < calls, $"{allocated} bytes over {calls} rounds");
    }

    [Fact]
    public async Task Totals_are_exact_when_many_threads_record_while_scrapes_run()
    {
        const int threads = 4;
        const int perThread = 20_000;
        string[] routes = ["/a", "/b", "/c", "/d"];
        using var start = new Barrier(threads + 1);
        var done = 0;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < perThread; i++)
            {
                // A series first seen by many threads at once exercises the child cache as well.
                _metrics.RecordHttpRequest(routes[(i + t) % routes.Length], "GET", 200 + (i % 3), TimeSpan.FromSeconds(i % 2 == 0 ? 0.25 : 1.0), responseBytes: 2);
            }

            Interlocked.Increment(ref done);
        })).ToList();
        workers.ForEach(w => w.Start());
        start.SignalAndWait();
        while (Volatile.Read(ref done) < threads)
        {
            _ = await ScrapeAsync();
        }

        workers.ForEach(w => w.Join());
        var text = await ScrapeAsync();
        var perRoute = threads * perThread / routes.Length;
        foreach (var route in routes)
        {
            Assert.Contains($"flywheel_http_sent_bytes_total{{route=\"{route}\"}} {perRoute * 2}\n", text, StringComparison.Ordinal);
        }

        var total = text.Split('\n').Where(l => l.StartsWith("flywheel_http_request_duration_seconds_count{", StringComparison.Ordinal))
            .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(threads * perThread, total);
    }
}
