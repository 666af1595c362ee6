using System.Collections.Concurrent;

namespace Flywheel.Cache.Nix;

/// <summary>
/// Rendered narinfo bytes kept in memory in front of the index, bounded by total size, plus a short-lived
/// memory of misses. Eviction is a clock sweep: entries read since the last sweep survive it.
/// Misses are remembered only for <c>negativeTtl</c>, and a PUT through this gateway forgets them at once. Found
/// entries live at most <c>ttl</c>, so what another gateway changed (a replaced narinfo, one that garbage collection
/// removed) is seen within that time.
/// </summary>
public sealed class NarInfoMemoryCache
{
    private readonly ConcurrentDictionary<(long CacheId, string Hash), Entry> _entries = new();
    private readonly long _maxBytes;
    private readonly long _negativeTtlTicks;
    private readonly long _ttlTicks;
    private readonly TimeProvider _time;
    private long _bytes;
    private int _sweeping;

    public NarInfoMemoryCache(long maxBytes, TimeSpan ttl, TimeSpan negativeTtl, TimeProvider time)
    {
        _maxBytes = maxBytes;
        _time = time;
        _ttlTicks = (long)(ttl.TotalSeconds * time.TimestampFrequency);
        _negativeTtlTicks = (long)(negativeTtl.TotalSeconds * time.TimestampFrequency);
    }

    public long SizeBytes => Interlocked.Read(ref _bytes);

    public int Count => _entries.Count;

    /// <summary>
    /// Hit: true with the bytes (null bytes for a remembered miss). Not known: false.
    /// </summary>
    public bool TryGet(long cacheId, string hash, out byte[]? text)
    {
        if (_entries.TryGetValue((cacheId, hash), out var entry))
        {
            if (_time.GetTimestamp() < entry.ExpiresAt)
            {
                entry.Referenced = true;
                text = entry.Text;
                return true;
            }

            if (_entries.TryRemove(new KeyValuePair<(long, string), Entry>((cacheId, hash), entry)))
            {
                Interlocked.Add(ref _bytes, -Cost(hash, entry.Text));
            }
        }

        text = null;
        return false;
    }

    public void SetFound(long cacheId, string hash, byte[] text)
    {
        if (_maxBytes <= 0 || _ttlTicks <= 0 || text.Length > _maxBytes / 16)
        {
            return;
        }

        var cost = Cost(hash, text);
        var entry = new Entry(text, _time.GetTimestamp() + _ttlTicks);
        var key = (cacheId, hash);
        while (true)
        {
            if (_entries.TryGetValue(key, out var old))
            {
                if (_entries.TryUpdate(key, entry, old))
                {
                    Interlocked.Add(ref _bytes, cost - Cost(hash, old.Text));
                    break;
                }
            }
            else if (_entries.TryAdd(key, entry))
            {
                Interlocked.Add(ref _bytes, cost);
                break;
            }
        }

        if (Interlocked.Read(ref _bytes) > _maxBytes)
        {
            Sweep();
        }
    }

    public void SetMissing(long cacheId, string hash)
    {
        if (_negativeTtlTicks <= 0)
        {
            return;
        }

        // A miss never replaces a found entry (a PUT may have raced the lookup that missed).
        if (_entries.TryAdd((cacheId, hash), new Entry(null, _time.GetTimestamp() + _negativeTtlTicks)))
        {
            Interlocked.Add(ref _bytes, Cost(hash, null));
        }

        // Misses of hashes never asked again would otherwise stay until a found entry triggers a sweep (a cache of misses only never would).
        if (Interlocked.Read(ref _bytes) > _maxBytes)
        {
            Sweep();
        }
    }

    public void Forget(long cacheId, string hash)
    {
        if (_entries.TryRemove((cacheId, hash), out var old))
        {
            Interlocked.Add(ref _bytes, -Cost(hash, old.Text));
        }
    }

    private void Sweep()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            var target = _maxBytes * 3 / 4;
            var now = _time.GetTimestamp();
            foreach (var (key, entry) in _entries)
            {
                if (Interlocked.Read(ref _bytes) <= target)
                {
                    break;
                }

                if (now >= entry.ExpiresAt || !entry.Referenced)
                {
                    if (_entries.TryRemove(new KeyValuePair<(long, string), Entry>(key, entry)))
                    {
                        Interlocked.Add(ref _bytes, -Cost(key.Hash, entry.Text));
                    }
                }
                else
                {
                    entry.Referenced = false;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private static long Cost(string hash, byte[]? text) => 64 + (hash.Length * 2) + (text?.Length ?? 0);

    private sealed class Entry(byte[]? text, long expiresAt)
    {
        /// <summary>The rendered narinfo, or null for a remembered miss.</summary>
        public byte[]? Text { get; } = text;

        public long ExpiresAt { get; } = expiresAt;

        public bool Referenced { get; set; }
    }
}
