using System.Diagnostics;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.Maintenance;

/// <summary>Garbage collection settings (<c>Gc:*</c>).</summary>
/// <param name="Interval">How often a gateway tries to collect; zero turns the periodic run off.</param>
/// <param name="OrphanGrace">How old a stored blob the index does not know must be before it is removed; longer than any upload takes.</param>
public sealed record GcOptions(TimeSpan Interval, TimeSpan OrphanGrace)
{
    public static GcOptions Default { get; } = new(TimeSpan.FromHours(1), TimeSpan.FromHours(6));
}

/// <summary>What one garbage collection run found and did.</summary>
public sealed record GcReport(
    bool Ran, bool DryRun, int IncompleteWritesRemoved, long BlobsScanned, long Orphans, long OrphanBytes, long OrphansRemoved, TimeSpan Duration);

/// <summary>
/// Garbage collection, one gateway at a time (the index's maintenance lock: a PostgreSQL advisory lock, or a file
/// lock on the embedded default). A run removes writes that never committed, then sweeps orphans: stored blobs
/// the index does not know (a crash between storing and recording) that are older than <see cref="GcOptions.OrphanGrace"/>,
/// so an upload in flight is never touched. Everything the index knows is kept.
/// </summary>
public sealed class GarbageCollector
{
    private const int BatchSize = 1000;

    private readonly IBlobStore _blobs;
    private readonly IMetadataStore _index;
    private readonly TimeProvider _time;
    private readonly GcOptions _options;
    private readonly FlywheelMetrics _metrics;
    private readonly ILogger<GarbageCollector> _logger;

    public GarbageCollector(IBlobStore blobs, IMetadataStore index, TimeProvider time, GcOptions options, FlywheelMetrics metrics, ILogger<GarbageCollector> logger)
    {
        _blobs = blobs;
        _index = index;
        _time = time;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    public GcOptions Options => _options;

    public async Task<GcReport> RunAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using var held = await _index.TryAcquireMaintenanceLockAsync(cancellationToken);
        if (held is null)
        {
            _logger.LogInformation("garbage collection skipped: another gateway is collecting");
            _metrics.GcRuns.Add(1, new KeyValuePair<string, object?>("result", "skipped"));
            return new GcReport(false, dryRun, 0, 0, 0, 0, 0, Stopwatch.GetElapsedTime(started));
        }

        try
        {
            var incomplete = dryRun ? 0 : await _blobs.SweepIncompleteWritesAsync(_options.OrphanGrace, cancellationToken);
            var (scanned, orphans, orphanBytes, removed) = await SweepOrphansAsync(dryRun, cancellationToken);
            var report = new GcReport(true, dryRun, incomplete, scanned, orphans, orphanBytes, removed, Stopwatch.GetElapsedTime(started));
            _metrics.GcRuns.Add(1, new KeyValuePair<string, object?>("result", "completed"));
            _logger.LogInformation(
                "garbage collection{DryRun}: {Incomplete} incomplete writes removed, {Scanned} blobs scanned, {Orphans} orphans ({OrphanBytes} bytes), {Removed} removed, in {Seconds:F1} s",
                dryRun ? " (dry run)" : "", incomplete, scanned, orphans, orphanBytes, removed, report.Duration.TotalSeconds);
            return report;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _metrics.GcRuns.Add(1, new KeyValuePair<string, object?>("result", "failed"));
            throw;
        }
    }

    private async Task<(long Scanned, long Orphans, long OrphanBytes, long Removed)> SweepOrphansAsync(bool dryRun, CancellationToken cancellationToken)
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
        return (scanned, orphans, orphanBytes, removed);

        async Task SweepBatchAsync()
        {
            if (batch.Count == 0)
            {
                return;
            }

            var unknown = (await _index.FindMissingBlobsAsync(batch.Select(b => b.Digest).ToList(), cancellationToken)).ToHashSet();
            foreach (var blob in batch.Where(b => unknown.Contains(b.Digest)))
            {
                orphans++;
                orphanBytes += blob.Size;
                // Asked again right before deleting: a concurrent upload of the same bytes may have recorded it meanwhile.
                if (dryRun || (await _index.FindMissingBlobsAsync([blob.Digest], cancellationToken)).Count == 0)
                {
                    continue;
                }

                if (await _blobs.DeleteAsync(blob.Digest, cancellationToken))
                {
                    removed++;
                    var reason = new KeyValuePair<string, object?>("reason", "orphan");
                    _metrics.GcRemovedBlobs.Add(1, reason);
                    _metrics.GcRemovedBytes.Add(blob.Size, reason);
                }
            }

            batch.Clear();
        }
    }
}
