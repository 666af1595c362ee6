using System.Collections.Concurrent;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// Remembers what was read (narinfos, blobs and action results, per cache) and writes the last-access times to the index in batches, so reads
/// cost no index write each; garbage collection (LRU eviction, retention) works from these times. A read is
/// recorded at most once per flush period; the times written are the flush time (accurate to the period).
/// </summary>
public sealed class AccessTracker
{
    /// <summary>Beyond this many pending entries of one kind, new reads are not recorded until the next flush.</summary>
    public const int MaxPending = 200_000;

    private readonly IMetadataStore _index;
    private readonly TimeProvider _time;
    private ConcurrentDictionary<(long CacheId, string Hash), byte> _narInfos = new();
    private ConcurrentDictionary<(long CacheId, BlobDigest Digest), byte> _blobs = new();
    private ConcurrentDictionary<(long CacheId, BlobDigest Action), byte> _actions = new();

    public AccessTracker(IMetadataStore index, TimeProvider time)
    {
        _index = index;
        _time = time;
    }

    public int PendingNarInfos => _narInfos.Count;

    public int PendingBlobs => _blobs.Count;

    public void RecordNarInfo(long cacheId, string storePathHash)
    {
        var pending = _narInfos;
        if (pending.Count < MaxPending)
        {
            pending.TryAdd((cacheId, storePathHash), 0);
        }
    }

    /// <summary>Records an action cache hit of a cache.</summary>
    public void RecordActionResult(long cacheId, BlobDigest actionHash)
    {
        var pending = _actions;
        if (pending.Count < MaxPending)
        {
            pending.TryAdd((cacheId, actionHash), 0);
        }
    }

    /// <summary>Records that a cache read (or relies on) a blob: it joins the cache's blobs, or moves up in its LRU order.</summary>
    public void RecordBlob(long cacheId, BlobDigest digest)
    {
        var pending = _blobs;
        if (pending.Count < MaxPending && digest != BlobDigest.Empty)
        {
            pending.TryAdd((cacheId, digest), 0);
        }
    }

    /// <summary>Writes what was recorded since the last flush: one batched statement per cache for each of narinfos, blobs and action results.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var narInfos = Interlocked.Exchange(ref _narInfos, new ConcurrentDictionary<(long CacheId, string Hash), byte>());
        var blobs = Interlocked.Exchange(ref _blobs, new ConcurrentDictionary<(long CacheId, BlobDigest Digest), byte>());
        var actions = Interlocked.Exchange(ref _actions, new ConcurrentDictionary<(long CacheId, BlobDigest Action), byte>());
        var now = _time.GetUtcNow();
        foreach (var group in narInfos.Keys.GroupBy(k => k.CacheId))
        {
            await _index.TouchNarInfosAsync(group.Key, group.Select(k => k.Hash).ToList(), now, cancellationToken).ConfigureAwait(false);
        }

        foreach (var group in blobs.Keys.GroupBy(k => k.CacheId))
        {
            await _index.TouchCacheBlobsAsync(group.Key, group.Select(k => k.Digest).ToList(), now, cancellationToken).ConfigureAwait(false);
        }

        foreach (var group in actions.Keys.GroupBy(k => k.CacheId))
        {
            await _index.TouchActionResultsAsync(group.Key, group.Select(k => k.Action).ToList(), now, cancellationToken).ConfigureAwait(false);
        }
    }
}
