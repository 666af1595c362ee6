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

    private readonly INarInfoStore _narInfoStore;
    private readonly IBlobIndex _blobIndex;
    private readonly IActionCacheStore _actionResults;
    private readonly TimeProvider _time;
    private Pending<(long CacheId, string Hash)> _narInfos = new();
    private Pending<(long CacheId, BlobDigest Digest)> _blobs = new();
    private Pending<(long CacheId, BlobDigest Action)> _actions = new();

    public AccessTracker(INarInfoStore narInfos, IBlobIndex blobIndex, IActionCacheStore actionResults, TimeProvider time)
    {
        _narInfoStore = narInfos;
        _blobIndex = blobIndex;
        _actionResults = actionResults;
        _time = time;
    }

    public int PendingNarInfos => Volatile.Read(ref _narInfos).Count;

    public int PendingBlobs => Volatile.Read(ref _blobs).Count;

    public void RecordNarInfo(long cacheId, string storePathHash) => Volatile.Read(ref _narInfos).Add((cacheId, storePathHash));

    /// <summary>Records an action cache hit of a cache.</summary>
    public void RecordActionResult(long cacheId, BlobDigest actionHash) => Volatile.Read(ref _actions).Add((cacheId, actionHash));

    /// <summary>
    /// Records that a cache read (or relies on) a blob it owns: it moves up in the cache's LRU order. A read never makes
    /// a blob the cache's; a digest the cache does not own is left alone at the flush.
    /// </summary>
    public void RecordBlob(long cacheId, BlobDigest digest)
    {
        if (digest != BlobDigest.Empty)
        {
            Volatile.Read(ref _blobs).Add((cacheId, digest));
        }
    }

    /// <summary>Writes what was recorded since the last flush: one batched statement per cache for each of narinfos, blobs and action results.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var narInfos = Interlocked.Exchange(ref _narInfos, new()).Keys;
        var blobs = Interlocked.Exchange(ref _blobs, new()).Keys;
        var actions = Interlocked.Exchange(ref _actions, new()).Keys;
        var now = _time.GetUtcNow();
        foreach (var group in narInfos.GroupBy(k => k.CacheId))
        {
            await _narInfoStore.TouchNarInfosAsync(group.Key, group.Select(k => k.Hash).ToList(), now, cancellationToken).ConfigureAwait(false);
        }

        foreach (var group in blobs.GroupBy(k => k.CacheId))
        {
            await _blobIndex.TouchOwnedBlobsAsync(group.Key, group.Select(k => k.Digest).ToList(), now, cancellationToken).ConfigureAwait(false);
        }

        foreach (var group in actions.GroupBy(k => k.CacheId))
        {
            await _actionResults.TouchActionResultsAsync(group.Key, group.Select(k => k.Action).ToList(), now, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One flush period's entries of one kind. A hit on an entry already pending (the common case: hot keys) is one
    /// lock-free lookup; the size is an interlocked counter, since <see cref="ConcurrentDictionary{TKey,TValue}.Count"/>
    /// takes every lock of the dictionary.
    /// </summary>
    private sealed class Pending<TKey>
        where TKey : notnull
    {
        private readonly ConcurrentDictionary<TKey, byte> _entries = new();
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public ICollection<TKey> Keys => _entries.Keys;

        public void Add(TKey key)
        {
            if (Volatile.Read(ref _count) < MaxPending && !_entries.ContainsKey(key) && _entries.TryAdd(key, 0))
            {
                Interlocked.Increment(ref _count);
            }
        }
    }
}
