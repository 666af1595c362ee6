using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Auth.Oidc;
using Flywheel.Cache.Server.Hosting;
using Flywheel.Cache.Tokens;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.Cli;

/// <summary>Administers the embedded default directly on its data folder (no daemon or token needed: file access is the authority).</summary>
public sealed class LocalAdminClient : IAdminClient
{
    private readonly IMetadataIndex _index;
    private readonly CacheCatalog _catalog;
    private readonly TokenService _tokens;
    private readonly CachePins _pins;
    private readonly UpstreamCatalog _upstreams;
    private readonly TrustPolicyCatalog _trust;

    private LocalAdminClient(IMetadataIndex index)
    {
        _index = index;
        _catalog = new CacheCatalog(index, TimeProvider.System);
        _tokens = new TokenService(index, TimeProvider.System);
        _pins = new CachePins(index, TimeProvider.System);
        _upstreams = new UpstreamCatalog(index, new UpstreamBreakers(UpstreamOptions.Default, TimeProvider.System), TimeProvider.System);
        _trust = new TrustPolicyCatalog(index, _tokens, TimeProvider.System);
    }

    public static async Task<LocalAdminClient> OpenAsync(string dataDirectory, CancellationToken cancellationToken)
    {
        var path = Path.GetFullPath(dataDirectory);
        if (!File.Exists(Path.Combine(path, "index.sqlite")))
        {
            throw new CacheException(CacheError.NotFound,
                $"no flywheel data folder at {path}: start `flywheel serve --data {dataDirectory}` once, or pass --server URL --token T to use a running daemon");
        }

        var index = Backends.CreateSqliteIndex(path, TimeProvider.System);
        await index.MigrateAsync(cancellationToken);
        return new LocalAdminClient(index);
    }

    public async Task<CacheView> CreateCacheAsync(CreateCacheRequest request, CancellationToken cancellationToken)
    {
        var settings = request.Settings();
        var cache = await _catalog.CreateAsync(request.Name, request.Public, request.Priority, cancellationToken, settings.Retention, settings.QuotaBytes);
        return CacheView.From(cache.Record);
    }

    public async Task<IReadOnlyList<CacheView>> ListCachesAsync(CancellationToken cancellationToken) =>
        (await _catalog.ListAsync(cancellationToken)).Select(CacheView.From).ToList();

    public async Task<CacheView> GetCacheAsync(string name, CancellationToken cancellationToken)
    {
        var cache = await FindAsync(name, cancellationToken);
        return CacheView.From(cache.Record, await _index.GetCacheUsageAsync(cache.Id, cancellationToken));
    }

    public async Task<CacheView> UpdateCacheAsync(string name, UpdateCacheRequest request, CancellationToken cancellationToken) =>
        CacheView.From((await _catalog.UpdateAsync(name, request.Change(), cancellationToken)).Record);

    public async Task PinAsync(string cache, PinRequest request, CancellationToken cancellationToken) =>
        await _pins.PinAsync(await FindAsync(cache, cancellationToken), request.StorePath, request.Reason, cancellationToken);

    public async Task UnpinAsync(string cache, string storePath, CancellationToken cancellationToken)
    {
        if (!await _pins.UnpinAsync(await FindAsync(cache, cancellationToken), storePath, cancellationToken))
        {
            throw CacheException.NotFound($"cache '{cache}' has no pin on {storePath}");
        }
    }

    public async Task<IReadOnlyList<PinView>> ListPinsAsync(string cache, CancellationToken cancellationToken) =>
        (await _pins.ListAsync(await FindAsync(cache, cancellationToken), cancellationToken)).Select(PinView.From).ToList();

    private async Task<CacheContext> FindAsync(string name, CancellationToken cancellationToken) =>
        await _catalog.FindAsync(name, cancellationToken) ?? throw CacheException.NotFound($"no cache named '{name}'");

    public async Task<CreatedToken> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken)
    {
        var ttl = request.Ttl is { Length: > 0 } t ? Durations.Parse(t) : (TimeSpan?)null;
        var (token, secret) = await _tokens.CreateAsync(request.Cache, TokenScopeNames.Parse(request.Scopes), ttl, request.Description, cancellationToken);
        return new CreatedToken(TokenView.From(token), secret);
    }

    public async Task<IReadOnlyList<TokenView>> ListTokensAsync(CancellationToken cancellationToken) =>
        (await _tokens.ListAsync(cancellationToken)).Select(TokenView.From).ToList();

    public async Task RevokeTokenAsync(string id, CancellationToken cancellationToken)
    {
        if (!await _tokens.RevokeAsync(id, cancellationToken))
        {
            throw CacheException.NotFound($"no token with id '{id}'");
        }
    }

    public async Task<UpstreamView> AddUpstreamAsync(string cache, AddUpstreamRequest request, CancellationToken cancellationToken)
    {
        var timeout = request.Timeout is { Length: > 0 } t ? Durations.Parse(t) : (TimeSpan?)null;
        var c = await FindAsync(cache, cancellationToken);
        return UpstreamView.From(await _upstreams.AddAsync(c, request.Url, request.TrustedKeys, request.Priority, request.Token, timeout, cancellationToken));
    }

    public async Task<IReadOnlyList<UpstreamView>> ListUpstreamsAsync(string cache, CancellationToken cancellationToken) =>
        (await _upstreams.ListAsync(await FindAsync(cache, cancellationToken), cancellationToken)).Select(UpstreamView.From).ToList();

    public async Task RemoveUpstreamAsync(string cache, string url, CancellationToken cancellationToken) =>
        await _upstreams.RemoveAsync(await FindAsync(cache, cancellationToken), url, cancellationToken);

    public async Task<TrustPolicyView> AddTrustPolicyAsync(string cache, AddTrustPolicyRequest request, CancellationToken cancellationToken) =>
        TrustPolicyView.From(await _trust.AddAsync(
            await FindAsync(cache, cancellationToken), request.Issuer, request.Audience, request.Claims ?? [], request.Scopes, request.Ttl, cancellationToken));

    public async Task<IReadOnlyList<TrustPolicyView>> ListTrustPoliciesAsync(string cache, CancellationToken cancellationToken) =>
        (await _trust.ListAsync(await FindAsync(cache, cancellationToken), cancellationToken)).Select(TrustPolicyView.From).ToList();

    public async Task RemoveTrustPolicyAsync(string cache, string id, CancellationToken cancellationToken) =>
        _ = await _trust.RemoveAsync(await FindAsync(cache, cancellationToken), id, cancellationToken);

    public ValueTask DisposeAsync() => _index is IAsyncDisposable d ? d.DisposeAsync() : ValueTask.CompletedTask;
}
