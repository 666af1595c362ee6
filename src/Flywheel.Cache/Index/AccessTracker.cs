using System.Collections.Concurrent;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// Remembers what was read (narinfos, blobs) and writes the last-access times to the index in batches, so reads
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
    private ConcurrentDictionary<BlobDigest, byte> _blobs = new();

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

    public void RecordBlob(BlobDigest digest)
    {
        var pending = _blobs;
        if (pending.Count < MaxPending && digest != BlobDigest.Empty)
        {
            pending.TryAdd(digest, 0);
        }
    }

    /// <summary>Writes what was recorded since the last flush: one batched statement per cache and one for blobs.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var narInfos = Interlocked.Exchange(ref _narInfos, new ConcurrentDictionary<(long CacheId, string Hash), byte>());
        var blobs = Interlocked.Exchange(ref _blobs, new ConcurrentDictionary<BlobDigest, byte>());
        var now = _time.GetUtcNow();
        foreach (var group in narInfos.Keys.GroupBy(k => k.CacheId))
        {
            await _index.TouchNarInfosAsync(group.Key, group.Select(k => k.Hash).ToList(), now, cancellationToken).ConfigureAwait(false);
        }

        if (!blobs.IsEmpty)
        {
            await _index.TouchBlobsAsync(blobs.Keys.ToList(), now, cancellationToken).ConfigureAwait(false);
        }
    }
}
