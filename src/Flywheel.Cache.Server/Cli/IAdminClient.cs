using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// What the admin subcommands need. Two implementations: against a running daemon's API
/// (<see cref="ApiAdminClient"/>) and directly on a data folder (<see cref="LocalAdminClient"/>).
/// </summary>
public interface IAdminClient : IAsyncDisposable
{
    Task<CacheView> CreateCacheAsync(CreateCacheRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<CacheView>> ListCachesAsync(CancellationToken cancellationToken);

    Task<CacheView> GetCacheAsync(string name, CancellationToken cancellationToken);

    Task<CreatedToken> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenView>> ListTokensAsync(CancellationToken cancellationToken);

    Task RevokeTokenAsync(string id, CancellationToken cancellationToken);

    Task<UpstreamView> AddUpstreamAsync(string cache, AddUpstreamRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<UpstreamView>> ListUpstreamsAsync(string cache, CancellationToken cancellationToken);

    Task RemoveUpstreamAsync(string cache, string url, CancellationToken cancellationToken);
}
