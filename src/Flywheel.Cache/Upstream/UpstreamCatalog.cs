using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// The upstreams of each cache: added, listed and removed here (validated first), and read by the read-through from
/// memory for <see cref="CacheCatalog.LookupTtl"/>, so a local miss does not ask the index for them each time (and
/// misses arriving together when that expires ask it once).
/// Changes made through this instance are seen at once, those of another gateway after at most that long.
/// </summary>
public sealed class UpstreamCatalog
{
    public const int MaxTrustedKeys = 16;

    private readonly IUpstreamStore _store;
    private readonly UpstreamBreakers _breakers;
    private readonly TimeProvider _time;
    private readonly ExpiringLookup<long, IReadOnlyList<Upstream>> _upstreams; // by cache id

    public UpstreamCatalog(IUpstreamStore upstreams, UpstreamBreakers breakers, TimeProvider time)
    {
        _store = upstreams;
        _breakers = breakers;
        _time = time;
        _upstreams = new ExpiringLookup<long, IReadOnlyList<Upstream>>(CacheCatalog.LookupTtl, time);
    }

    /// <summary>Validates and adds an upstream; <see cref="CacheError.Conflict"/> when the cache has that URL already.</summary>
    public async Task<UpstreamRecord> AddAsync(
        CacheContext cache, string url, IReadOnlyList<string> trustedKeys, int? priority, string? token, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var normalized = NormalizeUrl(url);
        if (trustedKeys is null || trustedKeys.Count == 0)
        {
            throw CacheException.Invalid($"upstream {normalized} needs at least one trusted key (name:base64, as in trusted-public-keys): its narinfos are served only when signed by one");
        }

        if (trustedKeys.Count > MaxTrustedKeys)
        {
            throw CacheException.Invalid($"upstream {normalized} has {trustedKeys.Count} trusted keys; at most {MaxTrustedKeys} are allowed");
        }

        var keys = trustedKeys.Select(k => NixPublicKey.Parse(k.Trim()).ToString()).Distinct(StringComparer.Ordinal).ToArray();
        var p = priority ?? UpstreamOptions.DefaultPriority;
        if (p is < 0 or > 10_000)
        {
            throw CacheException.Invalid($"upstream priority {p} is out of range 0..10000 (lower is asked first)");
        }

        var t = timeout ?? UpstreamOptions.DefaultTimeout;
        if (t < TimeSpan.FromMilliseconds(100) || t > TimeSpan.FromMinutes(10))
        {
            throw CacheException.Invalid($"upstream timeout {t} is out of range 100ms..10m");
        }

        if (token is not null && (token.Length is 0 or > 4096 || token.Any(c => c is < '!' or > '~')))
        {
            throw CacheException.Invalid("an upstream token must be 1 to 4096 printable ASCII characters without spaces");
        }

        var record = await _store.AddUpstreamAsync(
            new UpstreamRecord(0, cache.Id, normalized, p, keys, token, t, _time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        _upstreams.Remove(cache.Id);
        return record;
    }

    public Task<IReadOnlyList<UpstreamRecord>> ListAsync(CacheContext cache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return _store.ListUpstreamsAsync(cache.Id, cancellationToken);
    }

    /// <summary>Removes the upstream with that URL; <see cref="CacheError.NotFound"/> when the cache has none.</summary>
    public async Task RemoveAsync(CacheContext cache, string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var normalized = NormalizeUrl(url);
        var existing = (await _store.ListUpstreamsAsync(cache.Id, cancellationToken).ConfigureAwait(false)).FirstOrDefault(u => u.Url == normalized);
        if (existing is null || !await _store.RemoveUpstreamAsync(cache.Id, normalized, cancellationToken).ConfigureAwait(false))
        {
            throw CacheException.NotFound($"cache '{cache.Name}' has no upstream {ClientText.Quote(normalized)}");
        }

        _breakers.Forget(existing.Id);
        _upstreams.Remove(cache.Id);
    }

    /// <summary>The upstreams of a cache in the order they are asked; empty for most caches. Memory first.</summary>
    public ValueTask<IReadOnlyList<Upstream>> GetAsync(CacheContext cache, CancellationToken cancellationToken) =>
        _upstreams.GetAsync(cache.Id, (Store: _store, Cache: cache), static async (id, s) =>
        {
            var records = await s.Store.ListUpstreamsAsync(id, CancellationToken.None).ConfigureAwait(false);
            return records.Count == 0 ? [] : (IReadOnlyList<Upstream>)records.Select(r => new Upstream(r, s.Cache.Name)).ToArray();
        }, cancellationToken);

    /// <summary>An absolute http(s) URL without query, fragment, credentials or trailing slash.</summary>
    public static string NormalizeUrl(string? url)
    {
        var text = url?.Trim().TrimEnd('/') ?? "";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0 || text.Length > 2048)
        {
            throw CacheException.Invalid(
                $"{ClientText.Quote(url)} is not an upstream URL: write the absolute http(s) URL of a Nix binary cache without query or credentials, e.g. https://cache.nixos.org or https://attic.example/main");
        }

        return text;
    }
}
