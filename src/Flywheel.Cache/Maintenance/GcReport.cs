using Flywheel.Cache.Index;

namespace Flywheel.Cache.Maintenance;

/// <summary>Garbage collection settings (<c>Gc:*</c>).</summary>
/// <param name="Interval">How often a gateway tries to collect; zero turns the periodic run off.</param>
/// <param name="OrphanGrace">
/// How long anything new is safe: a stored blob the index does not know, a blob record nothing references, a NAR
/// record no narinfo names yet must be older than this before they are removed. Longer than any upload takes.
/// </param>
public sealed record GcOptions(TimeSpan Interval, TimeSpan OrphanGrace)
{
    public static GcOptions Default { get; } = new(TimeSpan.FromHours(1), TimeSpan.FromHours(6));
}

/// <summary>What one garbage collection run found and did (in a dry run: what it would remove).</summary>
public sealed record GcReport
{
    public bool Ran { get; init; }

    public bool DryRun { get; init; }

    public int IncompleteWritesRemoved { get; init; }

    /// <summary>Blobs caches stopped using because they were over quota (bytes: the blobs' sizes).</summary>
    public RemovedEntries Evicted { get; init; }

    /// <summary>Action results evicted with them (not accessed since the newest evicted blob). Not counted in a dry run.</summary>
    public RemovedEntries ActionResultsEvicted { get; init; }

    /// <summary>narinfos past their cache's retention, not pinned and not in a kept path's closure (bytes: their NARs).</summary>
    public RemovedEntries NarInfosExpired { get; init; }

    /// <summary>NAR records no narinfo names any more. Not counted in a dry run.</summary>
    public RemovedEntries NarFilesRemoved { get; init; }

    /// <summary>Blob records nothing references any more, removed from the index (their bytes go with the orphan sweep).</summary>
    public RemovedEntries UnreferencedBlobs { get; init; }

    public long BlobsScanned { get; init; }

    public long Orphans { get; init; }

    public long OrphanBytes { get; init; }

    public long OrphansRemoved { get; init; }

    public TimeSpan Duration { get; init; }

    public override string ToString() =>
        $"{(DryRun ? "dry run: " : "")}{Evicted.Count} blobs evicted over quota ({Evicted.Bytes} bytes), {ActionResultsEvicted.Count} action results evicted, "
        + $"{NarInfosExpired.Count} narinfos expired ({NarInfosExpired.Bytes} NAR bytes), {NarFilesRemoved.Count} NAR records removed, "
        + $"{UnreferencedBlobs.Count} unreferenced blobs ({UnreferencedBlobs.Bytes} bytes), "
        + $"{BlobsScanned} stored blobs scanned, {Orphans} orphaned ({OrphanBytes} bytes), {OrphansRemoved} removed, "
        + $"{IncompleteWritesRemoved} incomplete writes removed, in {Duration.TotalSeconds:F1} s";
}
