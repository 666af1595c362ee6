using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Caches;

/// <summary>
/// Finds and creates caches. Lookups are served from memory for a short time so the hot paths do not ask
/// the index for the cache on every request; changes made through this instance are visible at once,
/// changes made by another gateway after at most <see cref="LookupTtl"/>. Concurrent lookups of one name share
/// one index query: when an entry expires under load, the requests waiting for it ask once, not once each (64
/// busy connections used to open 64 PostgreSQL queries, and connections, every 5 seconds).
/// </summary>
public sealed class CacheCatalog
{
    public static readonly TimeSpan LookupTtl = TimeSpan.FromSeconds(5);
    public const string DefaultStoreDir = "/nix/store";

    private readonly ICacheStore _store;
    private readonly TimeProvider _time;
    private readonly ExpiringLookup<string, CacheContext?> _caches;

    public CacheCatalog(ICacheStore caches, TimeProvider time)
    {
        _store = caches;
        _time = time;
        // Bounded: requests for names no cache has (remembered as null) must not grow memory without end.
        _caches = new ExpiringLookup<string, CacheContext?>(LookupTtl, time, StringComparer.Ordinal, maxEntries: 100_000);
    }

    /// <summary>The cache of that name, or null. Invalid names are never looked up.</summary>
    public ValueTask<CacheContext?> FindAsync(string name, CancellationToken cancellationToken) =>
        CacheNames.IsValid(name)
            ? _caches.GetAsync(name, _store, static (n, caches) => LoadAsync(caches, n, CancellationToken.None), cancellationToken)
            : ValueTask.FromResult<CacheContext?>(null);

    /// <summary>Like <see cref="FindAsync"/>, but asks the index even when memory has an answer (e.g. after another gateway created it).</summary>
    public async ValueTask<CacheContext?> ReloadAsync(string name, CancellationToken cancellationToken)
    {
        if (!CacheNames.IsValid(name))
        {
            return null;
        }

        var cache = await LoadAsync(_store, name, cancellationToken).ConfigureAwait(false);
        _caches.Set(name, cache);
        return cache;
    }

    private static async Task<CacheContext?> LoadAsync(ICacheStore caches, string name, CancellationToken cancellationToken) =>
        await caches.GetCacheAsync(name, cancellationToken).ConfigureAwait(false) is { } record ? new CacheContext(record) : null;

    public static readonly TimeSpan MinRetention = TimeSpan.FromHours(1);

    public async Task<CacheContext> CreateAsync(
        string name, bool isPublic, int priority, CancellationToken cancellationToken, TimeSpan? retention = null, long? quotaBytes = null)
    {
        CacheNames.Validate(name);
        ValidatePriority(priority);
        ValidateRetention(retention);
        ValidateQuota(quotaBytes);
        var key = NixSigningKey.Generate($"{name}.flywheel-1");
        var record = await _store.CreateCacheAsync(
            new CacheRecord(0, name, isPublic, priority, DefaultStoreDir, key.ToString(), key.PublicKey.ToString(), retention, _time.GetUtcNow(), quotaBytes),
            cancellationToken).ConfigureAwait(false);
        return Remember(record);
    }

    /// <summary>Changes a cache's settings; what <paramref name="change"/> leaves null stays as it is.</summary>
    public async Task<CacheContext> UpdateAsync(string name, CacheChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        var current = await _store.GetCacheAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"no cache named '{name}'");
        var retention = change.Retention is { } r ? (r == TimeSpan.Zero ? null : r) : current.Retention;
        var quota = change.QuotaBytes is { } q ? (q == 0 ? null : q) : current.QuotaBytes;
        var priority = change.Priority ?? current.Priority;
        ValidatePriority(priority);
        ValidateRetention(retention);
        ValidateQuota(quota);
        var record = await _store.UpdateCacheAsync(
            current with { IsPublic = change.IsPublic ?? current.IsPublic, Priority = priority, Retention = retention, QuotaBytes = quota },
            cancellationToken).ConfigureAwait(false);
        return Remember(record);
    }

    private CacheContext Remember(CacheRecord record)
    {
        var cache = new CacheContext(record);
        _caches.Set(record.Name, cache);
        return cache;
    }

    private static void ValidatePriority(int priority)
    {
        if (priority is < 0 or > 10_000)
        {
            throw CacheException.Invalid($"priority {priority} is out of range 0..10000 (lower is preferred by Nix)");
        }
    }

    private static void ValidateRetention(TimeSpan? retention)
    {
        if (retention is { } r && r < MinRetention)
        {
            throw CacheException.Invalid($"a retention of {r} is too short: at least {MinRetention.TotalHours:0} h (or off)");
        }
    }

    private static void ValidateQuota(long? quotaBytes)
    {
        if (quotaBytes is <= 0)
        {
            throw CacheException.Invalid($"a quota of {quotaBytes} bytes is not positive (use off to remove it)");
        }
    }

    public Task<IReadOnlyList<CacheRecord>> ListAsync(CancellationToken cancellationToken) => _store.ListCachesAsync(cancellationToken);

}

/// <summary>A change of a cache's settings: null leaves a setting as it is; a zero Retention or QuotaBytes removes it.</summary>
public sealed record CacheChange(bool? IsPublic = null, int? Priority = null, TimeSpan? Retention = null, long? QuotaBytes = null);
