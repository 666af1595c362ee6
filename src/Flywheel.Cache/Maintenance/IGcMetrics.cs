namespace Flywheel.Cache.Maintenance;

/// <summary>What garbage collection reports as it runs; the server's metrics implement it (<c>flywheel_gc_…</c>, <c>flywheel_cache_…_bytes</c>).</summary>
public interface IGcMetrics
{
    /// <summary>A run that ended with <paramref name="result"/>: completed, skipped or failed.</summary>
    void RecordGcRun(string result);

    /// <summary>A blob of <paramref name="bytes"/> that garbage collection removed, e.g. as an orphan.</summary>
    void RecordGcRemovedBlob(string reason, long bytes);

    /// <summary>What the run measured of each cache: the bytes of the blobs it uses and its quota.</summary>
    void RecordCacheUsage(IReadOnlyList<(string Cache, long BlobBytes, long? QuotaBytes)> usage);

    /// <summary>Index entries of one kind that the run removed from a cache.</summary>
    void RecordGcRemovedEntries(string cache, string kind, long count);
}
