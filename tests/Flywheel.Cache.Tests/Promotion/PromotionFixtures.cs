using Flywheel.Cache.Nix;
using Flywheel.Cache.Promotion;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>Keys, narinfos and evidence for the gate's rule tests.</summary>
internal static class PromotionFixtures
{
    public static readonly NixSigningKey Builder1 = NixSigningKey.Generate("builder-1");
    public static readonly NixSigningKey Builder2 = NixSigningKey.Generate("builder-2");
    public static readonly NixSigningKey Stranger = NixSigningKey.Generate("stranger-1");
    public static readonly NixSigningKey CacheKey = NixSigningKey.Generate("main-1");

    public const string Hash = "0c0xkiqq2s2yvsbxy2pbb6kma8lmmsdd";
    public const string NarHash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";

    public static NarInfo Info(string name = "hello-2.12", string? deriver = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv", params NixSigningKey[] signers)
    {
        var info = new NarInfo
        {
            StorePath = StorePath.Parse($"/nix/store/{Hash}-{name}"),
            Url = "nar/x.nar",
            NarHash = NixHash.Parse(NarHash),
            NarSize = 1234,
            References = [$"{Hash}-{name}"],
            Deriver = deriver,
        };
        foreach (var signer in signers)
        {
            info.Sign(signer);
        }

        return info;
    }

    public static PromotionPolicy Policy(bool trustCacheKey = false, string[]? allow = null, params NixSigningKey[] trusted) => new(
        trusted.Select(k => k.PublicKey).ToList(), trustCacheKey, allow ?? ["hello-*"],
        new Dictionary<PromotionClass, IReadOnlyList<string>>(), new Dictionary<PromotionClass, string>());

    public static PromotionRequest Request(
        string? attribute = "packages.x86_64-linux.hello", string? repository = "https://github.com/o/r", string? revision = "0123abcd",
        string? target = null, params RebuildCheck[] rebuilds) =>
        new("main", ["/nix/store/" + Hash + "-hello-2.12"], attribute, repository, revision, target, false, "{}", rebuilds);

    public static PromotionEvidence Evidence(NarInfo? info, PromotionPolicy? policy = null, PromotionRequest? request = null, params string[] missing) =>
        new(request ?? Request(), policy ?? Policy(trusted: Builder1),
            CacheKey.PublicKey,
            [new PathEvidence(info?.StorePath ?? StorePath.Parse($"/nix/store/{Hash}-hello-2.12"), info, missing)]);
}
