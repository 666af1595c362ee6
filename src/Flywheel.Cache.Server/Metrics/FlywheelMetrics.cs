using System.Diagnostics;
using System.Diagnostics.Metrics;
using Flywheel.Cache.Upstream;
using Polly.CircuitBreaker;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>A blob store call, as counted by <see cref="FlywheelMetrics.RecordBlobStoreOperation"/>.</summary>
public enum BlobStoreOperation
{
    Open,
    Write,
    Commit,
    Delete,
    FindMissing,
}

/// <summary>
/// The daemon's instruments, in one meter named <see cref="MeterName"/>. Front doors and store decorators call
/// the Record methods; the label values they pass must come from small fixed sets (route patterns, cache names,
/// reasons), never from request data, so the number of series stays bounded.
/// </summary>
public sealed partial class FlywheelMetrics
{
    public const string MeterName = "Flywheel.Cache";

    private static readonly object[] OperationNames = ["open", "write", "commit", "delete", "find_missing"];
    private static readonly object[] UpstreamKinds = ["narinfo", "nar"];
    private static readonly object[] UpstreamResults = ["hit", "miss", "rejected", "error", "skipped"];
    private static readonly object Ok = "ok";
    private static readonly object Error = "error";
    private static readonly object Hit = "hit";
    private static readonly object Miss = "miss";
    private static readonly string[] StatusCodes = Enumerable.Range(0, 600).Select(code => code.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    public FlywheelMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        var seconds = new InstrumentAdvice<double> { HistogramBucketBoundaries = PrometheusExporterOptions.SecondsBuckets };

        HttpRequests = Meter.CreateCounter<long>("flywheel.http.requests", "{request}", "HTTP requests served, by route pattern, method and status code.");
        HttpRequestDuration = Meter.CreateHistogram("flywheel.http.request.duration", "s", "Time from receiving a request to finishing its response.", tags: null, advice: seconds);
        HttpReceivedBytes = Meter.CreateCounter<long>("flywheel.http.received", "By", "Request body bytes received, as declared by Content-Length.");
        HttpSentBytes = Meter.CreateCounter<long>("flywheel.http.sent", "By", "Response body bytes sent, as declared by Content-Length.");
        NarInfoLookups = Meter.CreateCounter<long>("flywheel.narinfo.lookups", "{lookup}", "narinfo lookups by cache and result (hit or miss).");
        BlobStoreOperations = Meter.CreateCounter<long>("flywheel.blob_store.operations", "{operation}", "Blob store calls by operation and result (ok or error).");
        BlobStoreOperationDuration = Meter.CreateHistogram("flywheel.blob_store.operation.duration", "s", "Blob store call duration by operation and result.", tags: null, advice: seconds);
        UploadsRejected = Meter.CreateCounter<long>("flywheel.uploads.rejected", "{upload}", "Uploads refused, by reason.");
        GcRuns = Meter.CreateCounter<long>("flywheel.gc.runs", "{run}", "Garbage collection runs by result (completed, skipped: another gateway held the lock, failed).");
        GcRemovedBlobs = Meter.CreateCounter<long>("flywheel.gc.removed_blobs", "{blob}", "Blobs removed by garbage collection, by reason.");
        GcRemovedBytes = Meter.CreateCounter<long>("flywheel.gc.removed", "By", "Bytes removed by garbage collection, by reason.");
        GcRemovedEntries = Meter.CreateCounter<long>(
            "flywheel.gc.removed_entries", "{entry}", "Index entries removed by garbage collection, by cache and kind (cache_blob: evicted over quota, action_result, narinfo: past retention, nar_file).");
        Meter.CreateObservableGauge("flywheel.cache.blobs", ObserveCacheBlobBytes, "By", "Bytes of the blobs each cache uses (what its quota limits), as of the last garbage collection.");
        Meter.CreateObservableGauge("flywheel.cache.quota", ObserveCacheQuotas, "By", "Each cache's quota, for caches that have one, as of the last garbage collection.");
        UpstreamFetches = Meter.CreateCounter<long>(
            "flywheel.upstream.fetches", "{request}", "Requests to upstream caches by cache, upstream, kind (narinfo, nar) and result (hit, miss, rejected, error, skipped: circuit open).");
        BuildAttempts = Meter.CreateCounter<long>("flywheel.build.attempts", "{attempt}", "Finished build attempts by lane and outcome (succeeded, failed, oom, timeout, lost).");
        BuildPhaseDuration = Meter.CreateHistogram(
            "flywheel.build.phase.duration", "s", "Build phase durations (bootstrap, evaluation, plan, build, upload) by lane and phase.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = BuildSecondsBuckets });
        BuildPeakMemory = Meter.CreateHistogram<long>(
            "flywheel.build.peak_memory", "By", "Peak memory of build attempts (cgroup peak or sampled process-tree RSS) by lane.", tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = MemoryBuckets });
        BuildOomReroutes = Meter.CreateCounter<long>("flywheel.build.oom_reroutes", "{build}", "Builds killed for memory on a lane and queued again on the next larger one, by lane and target lane.");
        Meter.CreateObservableGauge("flywheel.build.queue_depth", ObserveQueuedBuilds, "{build}", "Builds waiting for a worker, by lane, as of the last count of the index.");
        Meter.CreateObservableGauge("flywheel.build.running", ObserveRunningBuilds, "{build}", "Builds being run by a worker, by lane, as of the last count of the index.");
    }

    public Meter Meter { get; }

    /// <summary><c>flywheel_http_requests_total{route,method,status}</c></summary>
    public Counter<long> HttpRequests { get; }

    /// <summary><c>flywheel_http_request_duration_seconds{route,method,status}</c></summary>
    public Histogram<double> HttpRequestDuration { get; }

    /// <summary><c>flywheel_http_received_bytes_total{route}</c></summary>
    public Counter<long> HttpReceivedBytes { get; }

    /// <summary><c>flywheel_http_sent_bytes_total{route}</c></summary>
    public Counter<long> HttpSentBytes { get; }

    /// <summary><c>flywheel_narinfo_lookups_total{cache,result}</c></summary>
    public Counter<long> NarInfoLookups { get; }

    /// <summary><c>flywheel_blob_store_operations_total{op,result}</c></summary>
    public Counter<long> BlobStoreOperations { get; }

    /// <summary><c>flywheel_blob_store_operation_duration_seconds{op,result}</c></summary>
    public Histogram<double> BlobStoreOperationDuration { get; }

    /// <summary><c>flywheel_uploads_rejected_total{reason}</c></summary>
    public Counter<long> UploadsRejected { get; }

    /// <summary><c>flywheel_gc_runs_total{result}</c></summary>
    public Counter<long> GcRuns { get; }

    /// <summary><c>flywheel_gc_removed_blobs_total{reason}</c></summary>
    public Counter<long> GcRemovedBlobs { get; }

    /// <summary><c>flywheel_gc_removed_bytes_total{reason}</c></summary>
    public Counter<long> GcRemovedBytes { get; }

    /// <summary><c>flywheel_gc_removed_entries_total{cache,kind}</c></summary>
    public Counter<long> GcRemovedEntries { get; }

    private volatile IReadOnlyList<(string Cache, long BlobBytes, long? QuotaBytes)> _cacheUsage = [];

    /// <summary>What garbage collection last measured of each cache (<c>flywheel_cache_blobs_bytes</c>, <c>flywheel_cache_quota_bytes</c>).</summary>
    public void RecordCacheUsage(IReadOnlyList<(string Cache, long BlobBytes, long? QuotaBytes)> usage) => _cacheUsage = usage;

    /// <summary>Index entries of one kind that garbage collection removed from a cache.</summary>
    public void RecordGcRemovedEntries(string cache, string kind, long count)
    {
        if (count > 0)
        {
            GcRemovedEntries.Add(count, new KeyValuePair<string, object?>("cache", cache), new KeyValuePair<string, object?>("kind", kind));
        }
    }

    private IEnumerable<Measurement<long>> ObserveCacheBlobBytes() =>
        _cacheUsage.Select(u => new Measurement<long>(u.BlobBytes, new KeyValuePair<string, object?>("cache", u.Cache)));

    private IEnumerable<Measurement<long>> ObserveCacheQuotas() =>
        _cacheUsage.Where(u => u.QuotaBytes is not null)
            .Select(u => new Measurement<long>(u.QuotaBytes!.Value, new KeyValuePair<string, object?>("cache", u.Cache)));

    /// <summary><c>flywheel_upstream_fetches_total{cache,upstream,kind,result}</c></summary>
    public Counter<long> UpstreamFetches { get; }

    /// <summary>One request to an upstream, or one skipped. Upstream URLs are configured by admins, so the set stays small.</summary>
    public void RecordUpstreamFetch(UpstreamFetch fetch) =>
        UpstreamFetches.Add(1, new TagList
        {
            { "cache", fetch.Upstream.CacheName },
            { "upstream", fetch.Upstream.Url },
            { "kind", UpstreamKinds[(int)fetch.Kind] },
            { "result", UpstreamResults[(int)fetch.Result] },
        });

    /// <summary><c>flywheel_upstream_circuit_open{cache,upstream}</c>: 1 while an upstream is skipped, read on each scrape.</summary>
    public void ObserveUpstreamCircuits(UpstreamBreakers breakers)
    {
        ArgumentNullException.ThrowIfNull(breakers);
        Meter.CreateObservableGauge(
            "flywheel.upstream.circuit_open",
            () => breakers.Circuits().Select(c => new Measurement<int>(
                c.State is CircuitState.Open or CircuitState.Isolated ? 1 : 0,
                new KeyValuePair<string, object?>("cache", c.CacheName), new KeyValuePair<string, object?>("upstream", c.Url))),
            "{circuit}",
            "Whether an upstream's circuit breaker is open (the upstream is skipped), by cache and upstream.");
    }

    /// <summary>One served request. <paramref name="route"/> is the route pattern (or <c>unmatched</c>), never the raw path.</summary>
    public void RecordHttpRequest(string route, string method, int statusCode, TimeSpan duration, long? requestBytes = null, long? responseBytes = null)
    {
        var tags = new TagList
        {
            { "route", route },
            { "method", method },
            { "status", (uint)statusCode < (uint)StatusCodes.Length ? StatusCodes[statusCode] : "other" },
        };
        HttpRequests.Add(1, tags);
        HttpRequestDuration.Record(duration.TotalSeconds, tags);

        var routeOnly = new KeyValuePair<string, object?>("route", route);
        if (requestBytes > 0)
        {
            HttpReceivedBytes.Add(requestBytes.Value, routeOnly);
        }

        if (responseBytes > 0)
        {
            HttpSentBytes.Add(responseBytes.Value, routeOnly);
        }
    }

    /// <summary>A narinfo GET or HEAD answered from <paramref name="cache"/>.</summary>
    public void RecordNarInfoLookup(string cache, bool hit) =>
        NarInfoLookups.Add(1, new KeyValuePair<string, object?>("cache", cache), new KeyValuePair<string, object?>("result", hit ? Hit : Miss));

    /// <summary>A blob store call and how long it took; for the metrics decorator around <c>IBlobStore</c>.</summary>
    public void RecordBlobStoreOperation(BlobStoreOperation operation, bool succeeded, TimeSpan duration)
    {
        var tags = new TagList
        {
            { "op", OperationNames[(int)operation] },
            { "result", succeeded ? Ok : Error },
        };
        BlobStoreOperations.Add(1, tags);
        BlobStoreOperationDuration.Record(duration.TotalSeconds, tags);
    }

    /// <summary>A blob store call that started at <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public void RecordBlobStoreOperation(BlobStoreOperation operation, bool succeeded, long startTimestamp) =>
        RecordBlobStoreOperation(operation, succeeded, Stopwatch.GetElapsedTime(startTimestamp));

    /// <summary>An upload refused, e.g. <c>too_large</c>, <c>hash_mismatch</c>, <c>invalid</c>, <c>forbidden</c>.</summary>
    public void RecordUploadRejected(string reason) =>
        UploadsRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
