using System.Diagnostics;
using System.Globalization;
using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Upstream;
using Polly.CircuitBreaker;
using Prometheus;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>A blob store call, as counted by <see cref="FlywheelMetrics.RecordBlobStoreOperation(BlobStoreOperation, bool, TimeSpan)"/>.</summary>
public enum BlobStoreOperation
{
    Open,
    Write,
    Commit,
    Delete,
    FindMissing,
}

/// <summary>
/// The daemon's metrics, prometheus-net collectors in one host's <see cref="CollectorRegistry"/> (so two hosts in
/// one process count apart). Front doors and store decorators call the Record methods; the label values they pass
/// must come from small fixed sets (route patterns, cache names, reasons), never from request data, so the number
/// of series stays bounded. Label names are declared in alphabetical order, the order the exposition shows them.
/// The names are a public interface (README, dashboards): <c>flywheel_</c>, the unit, <c>_total</c> for counters.
/// </summary>
public sealed partial class FlywheelMetrics : IGcMetrics
{
    /// <summary>Histogram bounds for durations in seconds: 0.5 ms to 10 s.</summary>
    public static readonly IReadOnlyList<double> SecondsBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly string[] OperationNames = ["open", "write", "commit", "delete", "find_missing"];
    private static readonly string[] UpstreamKinds = ["narinfo", "nar"];
    private static readonly string[] UpstreamResults = ["hit", "miss", "rejected", "error", "skipped"];
    private static readonly string[] StatusCodes = [.. Enumerable.Range(0, 600).Select(code => code.ToString(CultureInfo.InvariantCulture))];
    private const string OtherStatus = "other";

    private readonly LabelledSeries<RequestKey, RequestSeries> _requests;
    private readonly LabelledSeries<string, Counter.Child> _received;
    private readonly LabelledSeries<string, Counter.Child> _sent;
    private readonly LabelledSeries<(string Cache, bool Hit), Counter.Child> _narInfoLookups;
    private readonly LabelledSeries<int, BlobStoreSeries> _blobStoreOperations;

    public FlywheelMetrics(CollectorRegistry registry, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        Registry = registry;
        Activity = new Ui.CacheActivity(time ?? TimeProvider.System);
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);

        // No exemplars: they would be read from the current trace on every observation, on the hot paths.
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        var seconds = new HistogramConfiguration { Buckets = [.. SecondsBuckets] };

        HttpRequests = factory.CreateCounter("flywheel_http_requests_total", "HTTP requests served, by route pattern, method and status code.", ["method", "route", "status"]);
        HttpRequestDuration = factory.CreateHistogram(
            "flywheel_http_request_duration_seconds", "Time from receiving a request to finishing its response.", ["method", "route", "status"], seconds);
        HttpReceivedBytes = factory.CreateCounter("flywheel_http_received_bytes_total", "Request body bytes received, as declared by Content-Length.", ["route"]);
        HttpSentBytes = factory.CreateCounter("flywheel_http_sent_bytes_total", "Response body bytes sent, as declared by Content-Length.", ["route"]);
        NarInfoLookups = factory.CreateCounter("flywheel_narinfo_lookups_total", "narinfo lookups by cache and result (hit or miss).", ["cache", "result"]);
        BlobStoreOperations = factory.CreateCounter("flywheel_blob_store_operations_total", "Blob store calls by operation and result (ok or error).", ["op", "result"]);
        BlobStoreOperationDuration = factory.CreateHistogram(
            "flywheel_blob_store_operation_duration_seconds", "Blob store call duration by operation and result.", ["op", "result"], seconds);
        UploadsRejected = factory.CreateCounter("flywheel_uploads_rejected_total", "Uploads refused, by reason.", ["reason"]);
        GcRuns = factory.CreateCounter(
            "flywheel_gc_runs_total", "Garbage collection runs by result (completed, skipped: another gateway held the lock, failed).", ["result"]);
        GcRemovedBlobs = factory.CreateCounter("flywheel_gc_removed_blobs_total", "Blobs removed by garbage collection, by reason.", ["reason"]);
        RecoveryDroppedBlobs = factory.CreateCounter(
            "flywheel_recovery_dropped_blobs_total", "Blobs whose index rows were dropped at start because their bytes did not survive an unclean stop of the disk store.");
        DiskSyncFailures = factory.CreateCounter(
            "flywheel_disk_sync_failures_total", "Background fsync rounds of the disk store that failed; after the first, the durable-through horizon stops moving until a restart.");
        GcRemovedBytes = factory.CreateCounter("flywheel_gc_removed_bytes_total", "Bytes removed by garbage collection, by reason.", ["reason"]);
        GcRemovedEntries = factory.CreateCounter(
            "flywheel_gc_removed_entries_total",
            "Index entries removed by garbage collection, by cache and kind (cache_blob: evicted over quota, action_result, narinfo: past retention, nar_file).",
            ["cache", "kind"]);
        CacheBlobBytes = factory.CreateGauge(
            "flywheel_cache_blobs_bytes", "Bytes of the blobs each cache uses (what its quota limits), as of the last garbage collection.", ["cache"]);
        CacheQuotaBytes = factory.CreateGauge("flywheel_cache_quota_bytes", "Each cache's quota, for caches that have one, as of the last garbage collection.", ["cache"]);
        UpstreamFetches = factory.CreateCounter(
            "flywheel_upstream_fetches_total",
            "Requests to upstream caches by cache, upstream, kind (narinfo, nar) and result (hit, miss, rejected, error, skipped: circuit open).",
            ["cache", "kind", "result", "upstream"]);
        UpstreamCircuitOpen = factory.CreateGauge(
            "flywheel_upstream_circuit_open", "Whether an upstream's circuit breaker is open (the upstream is skipped), by cache and upstream.", ["cache", "upstream"]);
        BuildAttempts = factory.CreateCounter("flywheel_build_attempts_total", "Finished build attempts by lane and outcome (succeeded, failed, oom, timeout, lost).", ["lane", "outcome"]);
        BuildPhaseDuration = factory.CreateHistogram(
            "flywheel_build_phase_duration_seconds", "Build phase durations (bootstrap, evaluation, plan, build, upload) by lane and phase.", ["lane", "phase"],
            new HistogramConfiguration { Buckets = [.. BuildSecondsBuckets] });
        BuildPeakMemory = factory.CreateHistogram(
            "flywheel_build_peak_memory_bytes", "Peak memory of build attempts (cgroup peak or sampled process-tree RSS) by lane.", ["lane"],
            new HistogramConfiguration { Buckets = [.. MemoryBuckets.Select(bytes => (double)bytes)] });
        BuildOomReroutes = factory.CreateCounter(
            "flywheel_build_oom_reroutes_total", "Builds killed for memory on a lane and queued again on the next larger one, by lane and target lane.", ["lane", "to"]);
        BuildQueueDepth = factory.CreateGauge("flywheel_build_queue_depth", "Builds waiting for a worker, by lane, as of the last count of the index.", ["lane"]);
        BuildsRunning = factory.CreateGauge("flywheel_build_running", "Builds being run by a worker, by lane, as of the last count of the index.", ["lane"]);
        OidcExchanges = factory.CreateCounter(
            "flywheel_oidc_exchanges_total", "OIDC ID tokens exchanged for flywheel tokens, by trusted issuer and result (ok or why refused).", ["issuer", "result"]);

        _requests = new(key => new RequestSeries(
            HttpRequests.WithLabels(key.Method, key.Route, key.Status),
            HttpRequestDuration.WithLabels(key.Method, key.Route, key.Status)));
        _received = new(route => HttpReceivedBytes.WithLabels(route));
        _sent = new(route => HttpSentBytes.WithLabels(route));
        _narInfoLookups = new(key => NarInfoLookups.WithLabels(key.Cache, key.Hit ? "hit" : "miss"));
        _blobStoreOperations = new(key =>
        {
            var labels = new[] { OperationNames[key >> 1], (key & 1) == 1 ? "ok" : "error" };
            return new BlobStoreSeries(BlobStoreOperations.WithLabels(labels), BlobStoreOperationDuration.WithLabels(labels));
        });
    }

    /// <summary>The last day of lookups, hits and uploads per cache and each upstream's last failure, for the status page; fed by the Record methods below.</summary>
    public Ui.CacheActivity Activity { get; }

    /// <summary>This host's registry: what <c>/metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary><c>flywheel_http_requests_total{method,route,status}</c></summary>
    public Counter HttpRequests { get; }

    /// <summary><c>flywheel_http_request_duration_seconds{method,route,status}</c></summary>
    public Histogram HttpRequestDuration { get; }

    /// <summary><c>flywheel_http_received_bytes_total{route}</c></summary>
    public Counter HttpReceivedBytes { get; }

    /// <summary><c>flywheel_http_sent_bytes_total{route}</c></summary>
    public Counter HttpSentBytes { get; }

    /// <summary><c>flywheel_narinfo_lookups_total{cache,result}</c></summary>
    public Counter NarInfoLookups { get; }

    /// <summary><c>flywheel_blob_store_operations_total{op,result}</c></summary>
    public Counter BlobStoreOperations { get; }

    /// <summary><c>flywheel_blob_store_operation_duration_seconds{op,result}</c></summary>
    public Histogram BlobStoreOperationDuration { get; }

    /// <summary><c>flywheel_uploads_rejected_total{reason}</c></summary>
    public Counter UploadsRejected { get; }

    /// <summary><c>flywheel_gc_runs_total{result}</c></summary>
    public Counter GcRuns { get; }

    /// <summary><c>flywheel_gc_removed_blobs_total{reason}</c></summary>
    public Counter GcRemovedBlobs { get; }

    /// <summary><c>flywheel_recovery_dropped_blobs_total</c></summary>
    public Counter RecoveryDroppedBlobs { get; }

    /// <summary><c>flywheel_disk_sync_failures_total</c></summary>
    public Counter DiskSyncFailures { get; }

    /// <summary><c>flywheel_gc_removed_bytes_total{reason}</c></summary>
    public Counter GcRemovedBytes { get; }

    /// <summary><c>flywheel_gc_removed_entries_total{cache,kind}</c></summary>
    public Counter GcRemovedEntries { get; }

    /// <summary><c>flywheel_cache_blobs_bytes{cache}</c></summary>
    public Gauge CacheBlobBytes { get; }

    /// <summary><c>flywheel_cache_quota_bytes{cache}</c></summary>
    public Gauge CacheQuotaBytes { get; }

    /// <summary><c>flywheel_upstream_fetches_total{cache,kind,result,upstream}</c></summary>
    public Counter UpstreamFetches { get; }

    /// <summary><c>flywheel_upstream_circuit_open{cache,upstream}</c></summary>
    public Gauge UpstreamCircuitOpen { get; }

    /// <summary>A garbage collection run that ended with <paramref name="result"/>: completed, skipped or failed.</summary>
    public void RecordGcRun(string result) => GcRuns.WithLabels(result).Inc();

    /// <summary>A blob of <paramref name="bytes"/> that garbage collection removed, e.g. as an orphan.</summary>
    public void RecordGcRemovedBlob(string reason, long bytes)
    {
        GcRemovedBlobs.WithLabels(reason).Inc();
        GcRemovedBytes.WithLabels(reason).Inc(bytes);
    }

    /// <summary>What garbage collection last measured of each cache (<c>flywheel_cache_blobs_bytes</c>, <c>flywheel_cache_quota_bytes</c>).</summary>
    public void RecordCacheUsage(IReadOnlyList<(string Cache, long BlobBytes, long? QuotaBytes)> usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        ReplaceSeries(CacheBlobBytes, usage.Select(u => ((string[])[u.Cache], (double)u.BlobBytes)));
        ReplaceSeries(CacheQuotaBytes, usage.Where(u => u.QuotaBytes is not null).Select(u => ((string[])[u.Cache], (double)u.QuotaBytes!.Value)));
    }

    /// <summary>Index entries of one kind that garbage collection removed from a cache.</summary>
    public void RecordGcRemovedEntries(string cache, string kind, long count)
    {
        if (count > 0)
        {
            GcRemovedEntries.WithLabels(cache, kind).Inc(count);
        }
    }

    /// <summary>One request to an upstream, or one skipped. Upstream URLs are configured by admins, so the set stays small.</summary>
    public void RecordUpstreamFetch(UpstreamFetch fetch)
    {
        UpstreamFetches.WithLabels(fetch.Upstream.CacheName, UpstreamKinds[(int)fetch.Kind], UpstreamResults[(int)fetch.Result], fetch.Upstream.Url).Inc();
        Activity.RecordUpstream(fetch);
    }

    /// <summary><c>flywheel_upstream_circuit_open{cache,upstream}</c>: 1 while an upstream is skipped, read before each scrape.</summary>
    public void ObserveUpstreamCircuits(UpstreamBreakers breakers)
    {
        ArgumentNullException.ThrowIfNull(breakers);
        Registry.AddBeforeCollectCallback(() => ReplaceSeries(
            UpstreamCircuitOpen,
            breakers.Circuits().Select(c => ((string[])[c.CacheName, c.Url], c.State is CircuitState.Open or CircuitState.Isolated ? 1.0 : 0.0))));
    }

    /// <summary>One served request. <paramref name="route"/> is the route pattern (or <c>unmatched</c>), never the raw path.</summary>
    public void RecordHttpRequest(string route, string method, int statusCode, TimeSpan duration, long? requestBytes = null, long? responseBytes = null)
    {
        var status = (uint)statusCode < (uint)StatusCodes.Length ? StatusCodes[statusCode] : OtherStatus;
        var series = _requests.Get(new RequestKey(method, route, status));
        series.Requests.Inc();
        series.Duration.Observe(duration.TotalSeconds);

        if (requestBytes > 0)
        {
            _received.Get(route).Inc(requestBytes.Value);
        }

        if (responseBytes > 0)
        {
            _sent.Get(route).Inc(responseBytes.Value);
        }
    }

    /// <summary>A narinfo GET or HEAD answered from <paramref name="cache"/>.</summary>
    public void RecordNarInfoLookup(string cache, bool hit)
    {
        _narInfoLookups.Get((cache, hit)).Inc();
        Activity.RecordLookup(cache, hit);
    }

    /// <summary>A narinfo uploaded to <paramref name="cache"/> and stored (the status page's uploads).</summary>
    public void RecordNarInfoUpload(string cache) => Activity.RecordUpload(cache);

    /// <summary>A blob store call and how long it took; for the metrics decorator around <c>IBlobStore</c>.</summary>
    public void RecordBlobStoreOperation(BlobStoreOperation operation, bool succeeded, TimeSpan duration)
    {
        var series = _blobStoreOperations.Get(((int)operation << 1) | (succeeded ? 1 : 0));
        series.Operations.Inc();
        series.Duration.Observe(duration.TotalSeconds);
    }

    /// <summary>A blob store call that started at <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public void RecordBlobStoreOperation(BlobStoreOperation operation, bool succeeded, long startTimestamp) =>
        RecordBlobStoreOperation(operation, succeeded, Stopwatch.GetElapsedTime(startTimestamp));

    /// <summary>An upload refused, e.g. <c>too_large</c>, <c>hash_mismatch</c>, <c>invalid</c>, <c>forbidden</c>.</summary>
    public void RecordUploadRejected(string reason) => UploadsRejected.WithLabels(reason).Inc();

    /// <summary>Sets <paramref name="gauge"/> to exactly these series: each given one to its value, any other one removed.</summary>
    private static void ReplaceSeries(Gauge gauge, IEnumerable<(string[] Labels, double Value)> series)
    {
        var current = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (labels, value) in series)
        {
            gauge.WithLabels(labels).Set(value);
            current.Add(string.Join('\n', labels));
        }

        foreach (var labels in gauge.GetAllLabelValues())
        {
            if (!current.Contains(string.Join('\n', labels)))
            {
                gauge.RemoveLabelled(labels);
            }
        }
    }

    private readonly record struct RequestKey(string Method, string Route, string Status);

    private sealed record RequestSeries(Counter.Child Requests, Histogram.Child Duration);

    private sealed record BlobStoreSeries(Counter.Child Operations, Histogram.Child Duration);
}
