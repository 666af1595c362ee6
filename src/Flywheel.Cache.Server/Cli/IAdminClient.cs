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

    /// <summary>The cache with its usage.</summary>
    Task<CacheView> GetCacheAsync(string name, CancellationToken cancellationToken);

    Task<CacheView> UpdateCacheAsync(string name, UpdateCacheRequest request, CancellationToken cancellationToken);

    Task PinAsync(string cache, PinRequest request, CancellationToken cancellationToken);

    Task UnpinAsync(string cache, string storePath, CancellationToken cancellationToken);

    Task<IReadOnlyList<PinView>> ListPinsAsync(string cache, CancellationToken cancellationToken);

    Task<CreatedToken> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenView>> ListTokensAsync(CancellationToken cancellationToken);

    Task RevokeTokenAsync(string id, CancellationToken cancellationToken);

    Task<UpstreamView> AddUpstreamAsync(string cache, AddUpstreamRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<UpstreamView>> ListUpstreamsAsync(string cache, CancellationToken cancellationToken);

    Task RemoveUpstreamAsync(string cache, string url, CancellationToken cancellationToken);

    Task<TrustPolicyView> AddTrustPolicyAsync(string cache, AddTrustPolicyRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<TrustPolicyView>> ListTrustPoliciesAsync(string cache, CancellationToken cancellationToken);

    Task RemoveTrustPolicyAsync(string cache, string id, CancellationToken cancellationToken);
}
