using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion;

/// <summary>What the cache knows about one requested store path.</summary>
/// <param name="Info">Its narinfo as the cache serves it (signatures included); null when the cache lacks the path.</param>
/// <param name="MissingFromClosure">Base names of paths in its closure (by narinfo References) the cache lacks.</param>
/// <param name="Attribute">The flake output attribute that evaluated to it (flake releases); null: the request's attribute.</param>
public sealed record PathEvidence(StorePath Path, NarInfo? Info, IReadOnlyList<string> MissingFromClosure, string? Attribute = null);

/// <summary>Everything the rules look at: the request, the policy, the cache's key and what the cache holds.</summary>
public sealed record PromotionEvidence(
    PromotionRequest Request,
    PromotionPolicy Policy,
    NixPublicKey CacheKey,
    IReadOnlyList<PathEvidence> Paths)
{
    /// <summary>The builder keys whose signatures count: the policy's, and the cache's own when it trusts it.</summary>
    public IReadOnlyList<NixPublicKey> TrustedKeys => Policy.TrustCacheKey ? [.. Policy.TrustedKeys, CacheKey] : Policy.TrustedKeys;
}
