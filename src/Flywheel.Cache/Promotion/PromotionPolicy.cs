using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion;

/// <summary>
/// A promotion policy, as read from the YAML or JSON file a repository keeps next to its code
/// (see <see cref="PolicyLoader"/>): whose signatures count, which outputs are meant for users, which rules each
/// class must pass, and where each class is published when the request names no target.
/// </summary>
/// <param name="TrustCacheKey">The cache's own signing key counts as a trusted builder key.</param>
/// <param name="Allow">Globs (<c>*</c>, <c>?</c>) over flake attributes and store path names.</param>
/// <param name="Targets">Default targets per class: <c>oci://REGISTRY/NAME:TAG</c>, <c>flakehub://ORG/FLAKE</c>.</param>
/// <param name="Annotations">Annotations to put on a published image's manifest (which then differs from the built one); none by default.</param>
/// <param name="RequireVerifiedSource">Every class also requires <see cref="RuleNames.VerifiedSource"/>: the request's repository and revision must be those of the caller's verified OIDC identity.</param>
public sealed record PromotionPolicy(
    IReadOnlyList<NixPublicKey> TrustedKeys,
    bool TrustCacheKey,
    IReadOnlyList<string> Allow,
    IReadOnlyDictionary<PromotionClass, IReadOnlyList<string>> Require,
    IReadOnlyDictionary<PromotionClass, string> Targets,
    IReadOnlyDictionary<string, string>? Annotations = null,
    bool RequireVerifiedSource = false)
{
    /// <summary>What a policy requires when it says nothing about a class.</summary>
    public static readonly IReadOnlyDictionary<PromotionClass, IReadOnlyList<string>> DefaultRequire =
        new Dictionary<PromotionClass, IReadOnlyList<string>>
        {
            [PromotionClass.OciImage] = [RuleNames.ClosureComplete, RuleNames.Provenance, RuleNames.Intentional],
            [PromotionClass.CleanDerivation] = RuleNames.All,
        };

    public IReadOnlyList<string> RequiredFor(PromotionClass value)
    {
        var rules = Require.TryGetValue(value, out var chosen) ? chosen : DefaultRequire.TryGetValue(value, out var defaults) ? defaults : RuleNames.All;
        return RequireVerifiedSource ? [.. rules, RuleNames.VerifiedSource] : rules;
    }
}
