using System.Collections.Concurrent;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Caches;

/// <summary>
/// Finds and creates caches. Lookups are served from memory for a short time so the hot paths do not ask
/// the index for the cache on every request; changes made through this instance are visible at once,
/// changes made by another gateway after at most <see cref="LookupTtl"/>.
/// </summary>
public sealed class CacheCatalog
{
    public static readonly TimeSpan LookupTtl = TimeSpan.FromSeconds(5);
    public const string DefaultStoreDir = "/nix/store";

    private readonly IMetadataStore _index;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public CacheCatalog(IMetadataStore index, TimeProvider time)
    {
        _index = index;
        _time = time;
    }

    /// <summary>The cache of that name, or null. Invalid names are never looked up.</summary>
    public ValueTask<CacheContext?> FindAsync(string name, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_entries.TryGetValue(name, out var entry) && now < entry.ExpiresAt)
        {
            return ValueTask.FromResult(entry.Cache);
        }

        return CacheNames.IsValid(name) ? LoadAsync(name, cancellationToken) : ValueTask.FromResult<CacheContext?>(null);
    }

    /// <summary>Like <see cref="FindAsync"/>, but asks the index even when memory has an answer (e.g. after another gateway created it).</summary>
    public ValueTask<CacheContext?> ReloadAsync(string name, CancellationToken cancellationToken) =>
        CacheNames.IsValid(name) ? LoadAsync(name, cancellationToken) : ValueTask.FromResult<CacheContext?>(null);

    private async ValueTask<CacheContext?> LoadAsync(string name, CancellationToken cancellationToken)
    {
        var record = await _index.GetCacheAsync(name, cancellationToken).ConfigureAwait(false);
        var cache = record is null ? null : new CacheContext(record);
        _entries[name] = new Entry(cache, _time.GetTimestamp() + (long)(LookupTtl.TotalSeconds * _time.TimestampFrequency));
        return cache;
    }

    public async Task<CacheContext> CreateAsync(string name, bool isPublic, int priority, CancellationToken cancellationToken)
    {
        CacheNames.Validate(name);
        if (priority is < 0 or > 10_000)
        {
            throw CacheException.Invalid($"priority {priority} is out of range 0..10000 (lower is preferred by Nix)");
        }

        var key = NixSigningKey.Generate($"{name}.flywheel-1");
        var record = await _index.CreateCacheAsync(
            new CacheRecord(0, name, isPublic, priority, DefaultStoreDir, key.ToString(), key.PublicKey.ToString(), null, _time.GetUtcNow()),
            cancellationToken).ConfigureAwait(false);
        var cache = new CacheContext(record);
        _entries[name] = new Entry(cache, _time.GetTimestamp() + (long)(LookupTtl.TotalSeconds * _time.TimestampFrequency));
        return cache;
    }

    public Task<IReadOnlyList<CacheRecord>> ListAsync(CancellationToken cancellationToken) => _index.ListCachesAsync(cancellationToken);

    private sealed record Entry(CacheContext? Cache, long ExpiresAt);
}
