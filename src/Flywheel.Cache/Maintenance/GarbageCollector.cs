using System.Diagnostics;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Maintenance;

/// <summary>
/// Garbage collection, one gateway at a time (the index's maintenance lock: a PostgreSQL advisory lock, or a file
/// lock on the embedded default). A run, in order:
/// <list type="number">
/// <item>removes writes that never committed;</item>
/// <item>per cache: evicts the least recently used blobs of a cache over its quota (<see cref="QuotaEviction"/>),
/// removes narinfos past the cache's retention (<see cref="NixRetention"/>), and NAR records no narinfo names;</item>
/// <item>removes blob records nothing references any more (no cache uses them, no NAR record, narinfo or cache file
/// names them), when older than <see cref="GcOptions.OrphanGrace"/>;</item>
/// <item>sweeps orphans: stored blobs the index does not know (just unreferenced, or left by a crash between storing
/// and recording) older than the grace period, so an upload in flight is never touched.</item>
/// </list>
/// The index is changed before the store, so a failure halfway leaves at worst an orphan for the next run, never a
/// record of a blob that is gone. Without quotas and retention nothing the index references is removed.
/// </summary>
public sealed class GarbageCollector
{
    private const int BatchSize = 1000;

    private readonly IBlobStore _blobs;
    private readonly IBlobIndex _blobIndex;
    private readonly ICacheStore _caches;
    private readonly IRetentionStore _retention;
    private readonly IPinStore _pins;
    private readonly TimeProvider _time;
    private readonly GcOptions _options;
    private readonly IGcMetrics _metrics;
    private readonly ILogger<GarbageCollector> _logger;

    public GarbageCollector(
        IBlobStore blobs, IBlobIndex blobIndex, ICacheStore caches, IRetentionStore retention, IPinStore pins, TimeProvider time, GcOptions options, IGcMetrics metrics, ILogger<GarbageCollector> logger)
    {
        _blobs = blobs;
        _blobIndex = blobIndex;
        _caches = caches;
        _retention = retention;
        _pins = pins;
        _time = time;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    public GcOptions Options => _options;

    public async Task<GcReport> RunAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using var held = await _retention.TryAcquireMaintenanceLockAsync(cancellationToken);
        if (held is null)
        {
            _logger.LogInformation("garbage collection skipped: another gateway is collecting");
            _metrics.RecordGcRun("skipped");
            return new GcReport { Ran = false, DryRun = dryRun, Duration = Stopwatch.GetElapsedTime(started) };
        }

        try
        {
            var report = new GcReport { Ran = true, DryRun = dryRun };
            report = report with { IncompleteWritesRemoved = dryRun ? 0 : await _blobs.SweepIncompleteWritesAsync(_options.OrphanGrace, cancellationToken) };
            report = await CollectCachesAsync(report, cancellationToken);
            report = report with { UnreferencedBlobs = await SweepUnreferencedAsync(dryRun, cancellationToken) };
            report = await SweepOrphansAsync(report, cancellationToken);
            report = report with { Duration = Stopwatch.GetElapsedTime(started) };
            _metrics.RecordGcRun("completed");
            _logger.LogInformation("garbage collection: {Report}", report);
            return report;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _metrics.RecordGcRun("failed");
            throw;
        }
    }

    private async Task<GcReport> CollectCachesAsync(GcReport report, CancellationToken cancellationToken)
    {
        var quotas = new QuotaEviction(_retention);
        var retention = new NixRetention(_retention, _pins);
        var usage = new List<(string, long, long?)>();
        foreach (var cache in await _caches.ListCachesAsync(cancellationToken))
        {
            var now = _time.GetUtcNow();
            var (evicted, actions, blobBytes) = await quotas.RunAsync(cache, report.DryRun, cancellationToken);
            var expired = await retention.RunAsync(cache, now, report.DryRun, cancellationToken);
            var narFiles = report.DryRun
                ? RemovedEntries.None
                : await _retention.RemoveUnreferencedNarFilesAsync(cache.Id, now - _options.OrphanGrace, cancellationToken);
            usage.Add((cache.Name, blobBytes, cache.QuotaBytes));
            if (!report.DryRun)
            {
                _metrics.RecordGcRemovedEntries(cache.Name, "cache_blob", evicted.Count);
                _metrics.RecordGcRemovedEntries(cache.Name, "action_result", actions.Count);
                _metrics.RecordGcRemovedEntries(cache.Name, "narinfo", expired.Count);
                _metrics.RecordGcRemovedEntries(cache.Name, "nar_file", narFiles.Count);
            }

            if (evicted.Count + actions.Count + expired.Count + narFiles.Count > 0)
            {
                _logger.LogInformation(
                    "garbage collection{DryRun} of cache {Cache}: {Evicted} blobs evicted ({EvictedBytes} bytes; quota {Quota}), {Actions} action results evicted, {Expired} narinfos expired (retention {Retention}), {NarFiles} NAR records removed",
                    report.DryRun ? " (dry run)" : "", cache.Name, evicted.Count, evicted.Bytes, cache.QuotaBytes, actions.Count, expired.Count, cache.Retention, narFiles.Count);
            }

            report = report with
            {
                Evicted = report.Evicted + evicted,
                ActionResultsEvicted = report.ActionResultsEvicted + actions,
                NarInfosExpired = report.NarInfosExpired + expired,
                NarFilesRemoved = report.NarFilesRemoved + narFiles,
            };
        }

        _metrics.RecordCacheUsage(usage);
        return report;
    }

    private async Task<RemovedEntries> SweepUnreferencedAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var since = _time.GetUtcNow() - _options.OrphanGrace;
        var removed = RemovedEntries.None;
        BlobDigest? after = null;
        do
        {
            var page = await _retention.SweepUnreferencedBlobsAsync(after, BatchSize, since, dryRun, cancellationToken);
            removed += new RemovedEntries(page.Unreferenced.Count, page.Unreferenced.Sum(b => b.Size));
            after = page.Next;
        }
        while (after is not null);

        return removed;
    }

    private async Task<GcReport> SweepOrphansAsync(GcReport report, CancellationToken cancellationToken)
    {
        var cutoff = _time.GetUtcNow() - _options.OrphanGrace;
        long scanned = 0, orphans = 0, orphanBytes = 0, removed = 0;
        var batch = new List<StoredBlob>(BatchSize);
        await foreach (var blob in _blobs.ListAsync(cancellationToken))
        {
            scanned++;
            if (blob.LastModified < cutoff)
            {
                batch.Add(blob);
            }

            if (batch.Count == BatchSize)
            {
                await SweepBatchAsync();
            }
        }

        await SweepBatchAsync();
        return report with { BlobsScanned = scanned, Orphans = orphans, OrphanBytes = orphanBytes, OrphansRemoved = removed };

        async Task SweepBatchAsync()
        {
            if (batch.Count == 0)
            {
                return;
            }

            var unknown = (await _blobIndex.FindMissingBlobsAsync(batch.Select(b => b.Digest).ToList(), cancellationToken)).ToHashSet();
            foreach (var blob in batch.Where(b => unknown.Contains(b.Digest)))
            {
                orphans++;
                orphanBytes += blob.Size;
                // Asked again right before deleting: a concurrent upload of the same bytes may have recorded it meanwhile.
                if (report.DryRun || (await _blobIndex.FindMissingBlobsAsync([blob.Digest], cancellationToken)).Count == 0)
                {
                    continue;
                }

                if (await _blobs.DeleteAsync(blob.Digest, cancellationToken))
                {
                    removed++;
                    _metrics.RecordGcRemovedBlob("orphan", blob.Size);
                }
            }

            batch.Clear();
        }
    }
}
