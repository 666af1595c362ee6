using Flywheel.Cache.Promotion;
using static Flywheel.Cache.Tests.Promotion.PromotionFixtures;

namespace Flywheel.Cache.Tests.Promotion;

public sealed class PolicyLoaderTests
{
    [Fact]
    public void Reads_the_json_form()
    {
        var policy = PolicyLoader.Parse($$$"""
            {"trustedKeys": ["{{{Builder1.PublicKey}}}", "{{{Builder2.PublicKey}}}"],
             "allow": ["packages.*.hello", "hello-*"],
             "trustCacheKey": true,
             "require": {"oci-image": ["closure-complete", "provenance", "intentional"],
                         "clean-derivation": ["closure-complete", "provenance", "re-identifiable", "reproducible", "intentional"]},
             "targets": {"oci-image": "oci://ghcr.io/o/hello:latest"}}
            """);

        Assert.Equal([Builder1.PublicKey, Builder2.PublicKey], policy.TrustedKeys);
        Assert.True(policy.TrustCacheKey);
        Assert.Equal(["packages.*.hello", "hello-*"], policy.Allow);
        Assert.Equal(["closure-complete", "provenance", "intentional"], policy.RequiredFor(PromotionClass.OciImage));
        Assert.Equal(RuleNames.All, policy.RequiredFor(PromotionClass.CleanDerivation));
        Assert.Equal("oci://ghcr.io/o/hello:latest", policy.Targets[PromotionClass.OciImage]);
    }

    [Fact]
    public void Reads_the_yaml_form_with_defaults_for_what_it_omits()
    {
        var policy = PolicyLoader.Parse($"""
            # promotion policy of github.com/o/r
            version: 1
            trustedKeys:
              - {Builder1.PublicKey}
            allow: [hello-*]
            require:
              clean-derivation: [closure-complete, provenance]
            targets:
              clean-derivation: flakehub://o/hello
            """);

        Assert.Equal([Builder1.PublicKey], policy.TrustedKeys);
        Assert.False(policy.TrustCacheKey);
        Assert.Equal(["closure-complete", "provenance"], policy.RequiredFor(PromotionClass.CleanDerivation));
        Assert.Equal(PromotionPolicy.DefaultRequire[PromotionClass.OciImage], policy.RequiredFor(PromotionClass.OciImage));
        Assert.Equal("flakehub://o/hello", policy.Targets[PromotionClass.CleanDerivation]);
    }

    [Theory]
    [InlineData("{\"trustedKeys\": [\"nonsense\"]}", "trustedKeys: 'nonsense' is not a Nix public key")]
    [InlineData("{\"require\": {\"oci-image\": [\"signed\"]}}", "require.oci-image: unknown rule 'signed'")]
    [InlineData("{\"require\": {\"mutable\": []}}", "require: unknown class 'mutable'")]
    [InlineData("{\"trustedkeys\": []}", "not valid JSON for a policy")]
    [InlineData("{\"allow\": [\"a\"", "not valid JSON for a policy")]
    [InlineData("{\"targets\": {\"oci-image\": \"flakehub://o/f\"}}", "is a target for clean-derivation outputs")]
    [InlineData("{\"targets\": {\"oci-image\": \"oci://ghcr.io/Upper/x\"}}", "is not oci://REGISTRY/NAME[:TAG]")]
    [InlineData("allow: [a\ntrustedKeys: x", "not valid YAML for a policy at line")]
    [InlineData("alow: [a]", "not valid YAML for a policy at line 1")]
    [InlineData("version: 2", "version 2 is not supported")]
    [InlineData("", "the promotion policy is empty")]
    public void A_bad_policy_is_a_clear_error(string text, string message)
    {
        var error = Assert.Throws<CacheException>(() => PolicyLoader.Parse(text));
        Assert.Equal(CacheError.Invalid, error.Error);
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("oci://ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1", "https://ghcr.io/")]
    [InlineData("oci://127.0.0.1:5000/hello", "127.0.0.1:5000", "hello", "latest", "http://127.0.0.1:5000/")]
    [InlineData("oci://localhost:5000/a/b-c:x.y", "localhost:5000", "a/b-c", "x.y", "http://localhost:5000/")]
    public void Parses_oci_targets(string text, string registry, string repository, string tag, string baseUri)
    {
        var target = PromotionTarget.Parse(text);
        Assert.Equal((PromotionClass.OciImage, registry, repository, tag), (target.Class, target.Registry, target.Repository, target.Tag));
        Assert.Equal(baseUri, target.RegistryBaseUri.ToString());
    }

    [Fact]
    public void Parses_flakehub_targets()
    {
        var target = PromotionTarget.Parse("flakehub://org/flake@1.2.3");
        Assert.Equal((PromotionClass.CleanDerivation, "org/flake", "1.2.3"), (target.Class, target.Repository, target.Version));
        Assert.Null(PromotionTarget.Parse("flakehub://org/flake").Version);
    }
}
