using System.Collections.Concurrent;

namespace Flywheel.Cache;

/// <summary>
/// Answers the hot paths look up in the index (caches by name, tokens by secret, a cache's upstreams), kept in
/// memory for a fixed time. A key that is absent or expired is loaded once for everybody asking at that moment
/// (<see cref="Coalescer{TKey,TValue}"/>): when an entry expires under load, the waiting requests share one index
/// query instead of sending one each.
/// </summary>
/// <remarks>
/// The load gets no cancellation token: it is shared, so it runs to its end even if the caller that started it
/// gives up; callers wait with their own token. A failed load stores nothing and fails every caller that waited
/// for it; the next call loads again. Above <c>maxEntries</c> the whole memory is dropped (bounded memory against
/// floods of distinct keys, such as random token secrets).
/// </remarks>
public sealed class ExpiringLookup<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries;
    private readonly Coalescer<TKey, TValue> _loads = new();
    private readonly TimeProvider _time;
    private readonly long _ttlTicks;
    private readonly int _maxEntries;

    public ExpiringLookup(TimeSpan ttl, TimeProvider time, IEqualityComparer<TKey>? comparer = null, int maxEntries = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        _time = time;
        _ttlTicks = (long)(ttl.TotalSeconds * time.TimestampFrequency);
        _maxEntries = maxEntries;
        _entries = new ConcurrentDictionary<TKey, Entry>(comparer);
    }

    /// <summary>The remembered value of <paramref name="key"/>, or a load shared with every concurrent caller.</summary>
    public ValueTask<TValue> GetAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> load, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(key, out var entry) && _time.GetTimestamp() < entry.ExpiresAt)
        {
            return ValueTask.FromResult(entry.Value);
        }

        return new ValueTask<TValue>(_loads.RunAsync(key, (Lookup: this, State: state, Load: load), static async (k, s) =>
        {
            var value = await s.Load(k, s.State).ConfigureAwait(false);
            s.Lookup.Set(k, value);
            return value;
        }).WaitAsync(cancellationToken));
    }

    /// <summary>Remembers <paramref name="value"/> for the full time from now (e.g. after this gateway changed it).</summary>
    public void Set(TKey key, TValue value)
    {
        if (_maxEntries != int.MaxValue && _entries.Count >= _maxEntries)
        {
            _entries.Clear();
        }

        _entries[key] = new Entry(value, _time.GetTimestamp() + _ttlTicks);
    }

    public void Remove(TKey key) => _entries.TryRemove(key, out _);

    /// <summary>Forgets every remembered value <paramref name="match"/> selects.</summary>
    public void RemoveWhere(Func<TValue, bool> match)
    {
        foreach (var (key, entry) in _entries)
        {
            if (match(entry.Value))
            {
                _entries.TryRemove(key, out _);
            }
        }
    }

    private sealed record Entry(TValue Value, long ExpiresAt);
}
