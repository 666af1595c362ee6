using System.Collections.Concurrent;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// Read-through to a cache's upstreams, in front of <see cref="NixBinaryCache"/>: the front door asks it only after a
/// local miss (a local hit never gets here).
/// <list type="bullet">
/// <item>narinfo (on GET and HEAD alike: Nix asks HEAD before it copies): the upstreams are asked one after another by priority; the first verified answer is stored (re-signed
/// with the cache's key) and served. Concurrent misses of one path share one fetch. "Nobody has it" is remembered for
/// <see cref="UpstreamOptions.NegativeTtl"/>; when an upstream failed and none had it, the answer is Unavailable, never
/// a remembered miss.</item>
/// <item>NAR: a NAR that a stored upstream narinfo refers to is fetched on its first GET (never on HEAD), streamed to that client while
/// being written to the store, and made visible only after FileHash, FileSize, NarHash and NarSize were verified.</item>
/// </list>
/// </summary>
public sealed class UpstreamReadThrough : IDisposable
{
    private readonly NixBinaryCache _nix;
    private readonly IUpstreamStore _upstreams;
    private readonly UpstreamCatalog _catalog;
    private readonly UpstreamBreakers _breakers;
    private readonly UpstreamClient _client;
    private readonly NarInfoMemoryCache _misses;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Coalescer<(long CacheId, string Hash), byte[]?> _narInfos = new();
    private readonly ConcurrentDictionary<(long CacheId, BlobDigest FileHash), UpstreamNarDownload> _downloads = new();
    private readonly CancellationTokenSource _stopping = new();

    public UpstreamReadThrough(
        NixBinaryCache nix, IUpstreamStore upstreams, UpstreamCatalog catalog, UpstreamBreakers breakers, UpstreamClient client,
        UpstreamOptions options, TimeProvider time, ILogger<UpstreamReadThrough> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _nix = nix;
        _upstreams = upstreams;
        _catalog = catalog;
        _breakers = breakers;
        _client = client;
        _time = time;
        _logger = logger;
        _misses = new NarInfoMemoryCache(maxBytes: 16L * 1024 * 1024, ttl: TimeSpan.Zero, options.NegativeTtl, time); // misses only
    }

    /// <summary>Called for every request made to an upstream (and every one skipped); for metrics.</summary>
    public Action<UpstreamFetch>? Observer { get; set; }

    /// <summary>NAR downloads in progress.</summary>
    public int DownloadsRunning => _downloads.Count;

    /// <summary>
    /// The narinfo from the cache's upstreams, verified, stored and re-signed; null when none has it (or the cache has
    /// no upstreams). Call after a local miss. <see cref="CacheError.Unavailable"/> when an upstream failed and none had it.
    /// </summary>
    public async ValueTask<byte[]?> GetNarInfoAsync(CacheContext cache, string storePathHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (!StorePath.IsValidHashPart(storePathHash))
        {
            return null;
        }

        var upstreams = await _catalog.GetAsync(cache, cancellationToken).ConfigureAwait(false);
        if (upstreams.Count == 0 || _misses.TryGet(cache.Id, storePathHash, out _))
        {
            return null;
        }

        return await _narInfos.RunAsync((cache.Id, storePathHash), (self: this, cache, upstreams), static (key, s) => s.self.FetchNarInfoAsync(s.cache, s.upstreams, key.Hash))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<byte[]?> FetchNarInfoAsync(CacheContext cache, IReadOnlyList<Upstream> upstreams, string hash)
    {
        var stopping = _stopping.Token;
        UpstreamUnavailableException? failure = null;
        foreach (var upstream in upstreams)
        {
            byte[]? body;
            try
            {
                body = await _breakers.ExecuteAsync(
                    upstream, (client: _client, upstream, hash, max: (int)_nix.Limits.MaxNarInfoBytes),
                    static (s, ct) => s.client.GetNarInfoAsync(s.upstream, s.hash, s.max, ct), stopping).ConfigureAwait(false);
            }
            catch (BrokenCircuitException)
            {
                Observe(upstream, UpstreamFetchKind.NarInfo, UpstreamFetchResult.Skipped);
                continue;
            }
            catch (UpstreamUnavailableException e)
            {
                _logger.LogWarning("cache {Cache}: {Message}", cache.Name, e.Message);
                Observe(upstream, UpstreamFetchKind.NarInfo, UpstreamFetchResult.Error, e.Message);
                failure = e;
                continue;
            }

            if (body is null)
            {
                Observe(upstream, UpstreamFetchKind.NarInfo, UpstreamFetchResult.Miss);
                continue;
            }

            NarInfo served;
            UpstreamNarRecord nar;
            try
            {
                (served, nar) = UpstreamNarInfo.Accept(body, upstream, hash, cache.Record.StoreDir, _time.GetUtcNow());
            }
            catch (CacheException e) when (e.Error == CacheError.Invalid)
            {
                _logger.LogWarning("cache {Cache}: refused {Hash}.narinfo from upstream {Upstream}: {Message}", cache.Name, hash, upstream.Url, e.Message);
                Observe(upstream, UpstreamFetchKind.NarInfo, UpstreamFetchResult.Rejected, $"refused {hash}.narinfo: {e.Message}");
                continue;
            }

            await _upstreams.PutUpstreamNarAsync(cache.Id, nar, stopping).ConfigureAwait(false);
            var record = await _nix.StoreNarInfoAsync(cache, served, stopping).ConfigureAwait(false);
            Observe(upstream, UpstreamFetchKind.NarInfo, UpstreamFetchResult.Hit);
            _logger.LogInformation("cache {Cache}: stored narinfo {StorePath} from upstream {Upstream}", cache.Name, record.StorePath, upstream.Url);
            return record.Text;
        }

        if (failure is not null)
        {
            throw new CacheException(CacheError.Unavailable, $"no upstream of cache '{cache.Name}' had {hash}.narinfo, and one failed: {failure.Message}", failure);
        }

        _misses.SetMissing(cache.Id, hash);
        return null;
    }

    /// <summary>
    /// A NAR file of the cache that a stored upstream narinfo refers to: the stored blob when a fetch just finished, else
    /// a handle on the fetch that this call starts (dispose it when done: it may hold the download's pipe). Null when no
    /// upstream narinfo refers to it. Call after a local miss, for GETs only.
    /// </summary>
    public async Task<BlobHandle?> OpenNarAsync(CacheContext cache, string fileName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var name = NarFileName.Parse(fileName);
        var key = (cache.Id, name.FileHash);
        if (_downloads.TryGetValue(key, out var running))
        {
            return await FollowAsync(running, cache, fileName, cancellationToken).ConfigureAwait(false);
        }

        var nar = await _upstreams.GetUpstreamNarAsync(cache.Id, name.FileHash, cancellationToken).ConfigureAwait(false);
        if (nar is null || nar.Compression != Compression.NarCompressions.ToNarInfoName(name.Compression))
        {
            return null;
        }

        var upstreams = await _catalog.GetAsync(cache, cancellationToken).ConfigureAwait(false);
        var upstream = upstreams.FirstOrDefault(u => u.Id == nar.UpstreamId);
        if (upstream is null)
        {
            return null; // removed since
        }

        var download = new UpstreamNarDownload();
        running = _downloads.GetOrAdd(key, download);
        if (running != download)
        {
            return await FollowAsync(running, cache, fileName, cancellationToken).ConfigureAwait(false);
        }

        // A download that finished between our local miss and now has stored it: no second fetch.
        var stored = await _nix.OpenNarAsync(cache, fileName, cancellationToken).ConfigureAwait(false);
        if (stored is not null)
        {
            _downloads.TryRemove(new KeyValuePair<(long, BlobDigest), UpstreamNarDownload>(key, download));
            download.Fail(new CacheException(CacheError.Unavailable, $"nar/{name} was stored while its fetch was starting"));
            _ = download.Completion.Exception; // observed
            return stored;
        }

        var live = download.OpenLive(name.FileHash, nar.FileSize);
        _ = Task.Run(() => RunDownloadAsync(download, key, cache, name, nar, upstream));
        return live;
    }

    private async Task<BlobHandle?> FollowAsync(UpstreamNarDownload running, CacheContext cache, string fileName, CancellationToken cancellationToken)
    {
        CacheException? failure = null;
        try
        {
            await running.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CacheException e)
        {
            failure = e; // unless the NAR is stored after all (the fetch was not needed, or another gateway stored it)
        }

        var stored = await _nix.OpenNarAsync(cache, fileName, cancellationToken).ConfigureAwait(false);
        if (stored is null && failure is not null)
        {
            throw failure;
        }

        return stored;
    }

    private async Task RunDownloadAsync(
        UpstreamNarDownload download, (long, BlobDigest) key, CacheContext cache, NarFileName name, UpstreamNarRecord nar, Upstream upstream)
    {
        try
        {
            var stored = await _breakers.ExecuteAsync(upstream, (self: this, download, cache, name, nar, upstream),
                static (s, ct) => new ValueTask<NarFileRecord>(s.self.FetchNarAsync(s.download, s.cache, s.name, s.nar, s.upstream, ct)),
                _stopping.Token).ConfigureAwait(false);
            Observe(upstream, UpstreamFetchKind.Nar, UpstreamFetchResult.Hit);
            _logger.LogInformation("cache {Cache}: stored nar/{File} from upstream {Upstream} ({FileSize} bytes)", cache.Name, name, upstream.Url, stored.FileSize);
            download.Succeed(stored);
        }
        catch (Exception e)
        {
            var (result, error) = e switch
            {
                BrokenCircuitException => (UpstreamFetchResult.Skipped, new CacheException(CacheError.Unavailable, $"upstream {upstream.Url} is failing and skipped for now", e)),
                UpstreamUnavailableException => (UpstreamFetchResult.Error, new CacheException(CacheError.Unavailable, e.Message, e)),
                CacheException { Error: CacheError.Invalid } => (UpstreamFetchResult.Rejected,
                    new CacheException(CacheError.Unavailable, $"upstream {upstream.Url} sent nar/{name}, which failed verification: {e.Message}", e)),
                CacheException { Error: CacheError.NotFound } => (UpstreamFetchResult.Miss, (CacheException)e),
                CacheException c => (UpstreamFetchResult.Error, c),
                _ => (UpstreamFetchResult.Error, new CacheException(CacheError.Unavailable, $"fetching nar/{name} from upstream {upstream.Url} failed: {e.Message}", e)),
            };
            Observe(upstream, UpstreamFetchKind.Nar, result, error.Message);
            _logger.LogWarning("cache {Cache}: {Message}", cache.Name, error.Message);
            download.Fail(error);
            _ = download.Completion.Exception; // observed here; clients that wait get it too
        }
        finally
        {
            _downloads.TryRemove(new KeyValuePair<(long, BlobDigest), UpstreamNarDownload>(key, download));
        }
    }

    private async Task<NarFileRecord> FetchNarAsync(
        UpstreamNarDownload download, CacheContext cache, NarFileName name, UpstreamNarRecord nar, Upstream upstream, CancellationToken cancellationToken)
    {
        using var response = await _client.GetNarAsync(upstream, new Uri(nar.Url), cancellationToken).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is { } length && length != nar.FileSize)
        {
            throw CacheException.Invalid($"it has {length} bytes, its narinfo says {nar.FileSize}");
        }

        var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var source = new UpstreamBodyStream(body, upstream, cancellationToken);
        await using var tee = new TeeReadStream(source, download.Copy);
        var expected = new NarExpectation(nar.FileSize, NixHash.Parse(nar.NarHash), nar.NarSize);
        return await _nix.PutNarAsync(cache, name, tee, nar.FileSize, expected, cancellationToken).ConfigureAwait(false);
    }

    private void Observe(Upstream upstream, UpstreamFetchKind kind, UpstreamFetchResult result, string? error = null) =>
        Observer?.Invoke(new UpstreamFetch(upstream, kind, result, error));

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }
}
