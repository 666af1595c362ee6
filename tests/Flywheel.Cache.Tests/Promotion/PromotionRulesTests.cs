using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.Rules;
using static Flywheel.Cache.Tests.Promotion.PromotionFixtures;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>Each rule of the gate, passing and failing, with the reason it gives.</summary>
public sealed class PromotionRulesTests
{
    [Fact]
    public void Closure_complete_passes_when_the_cache_has_the_whole_closure()
    {
        var outcome = new ClosureCompleteRule().Evaluate(Evidence(Info(signers: Builder1)));
        Assert.True(outcome.Passed, outcome.Reason);
    }

    [Fact]
    public void Closure_complete_fails_naming_missing_paths()
    {
        var outcome = new ClosureCompleteRule().Evaluate(Evidence(Info(signers: Builder1), missing: ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-glibc"]));
        Assert.False(outcome.Passed);
        Assert.Contains("lacks xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-glibc", outcome.Reason);

        var absent = new ClosureCompleteRule().Evaluate(Evidence(null));
        Assert.False(absent.Passed);
        Assert.Contains("is not in the cache", absent.Reason);
    }

    [Fact]
    public void Provenance_passes_with_a_trusted_builder_signature()
    {
        var outcome = new ProvenanceRule().Evaluate(Evidence(Info(signers: [Stranger, Builder1])));
        Assert.True(outcome.Passed, outcome.Reason);
        Assert.Contains("builder-1", outcome.Reason);
    }

    [Fact]
    public void Provenance_fails_without_a_trusted_signature_or_with_a_forged_one()
    {
        var unsigned = new ProvenanceRule().Evaluate(Evidence(Info(signers: Stranger)));
        Assert.False(unsigned.Passed);
        Assert.Contains("no valid signature by a trusted key (signed by: stranger-1)", unsigned.Reason);

        var info = Info(signers: Builder1);
        info.NarSize += 1; // the signature no longer covers what the narinfo says
        Assert.False(new ProvenanceRule().Evaluate(Evidence(info)).Passed);

        var noKeys = new ProvenanceRule().Evaluate(Evidence(Info(signers: Builder1), Policy()));
        Assert.False(noKeys.Passed);
        Assert.Contains("trusts no builder key", noKeys.Reason);
    }

    [Fact]
    public void Provenance_counts_the_cache_key_only_when_the_policy_trusts_it()
    {
        var info = Info(signers: CacheKey);
        Assert.False(new ProvenanceRule().Evaluate(Evidence(info, Policy(trusted: Builder1))).Passed);
        Assert.True(new ProvenanceRule().Evaluate(Evidence(info, Policy(trustCacheKey: true, trusted: Builder1))).Passed);
    }

    [Fact]
    public void Re_identifiable_passes_with_deriver_and_named_source()
    {
        Assert.True(new ReIdentifiableRule().Evaluate(Evidence(Info())).Passed);
        var contentAddressed = Info(deriver: null);
        contentAddressed.Ca = "fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
        Assert.True(new ReIdentifiableRule().Evaluate(Evidence(contentAddressed)).Passed);
    }

    [Fact]
    public void Re_identifiable_fails_without_deriver_or_source()
    {
        var noDeriver = new ReIdentifiableRule().Evaluate(Evidence(Info(deriver: null)));
        Assert.False(noDeriver.Passed);
        Assert.Contains("no deriver and is not content-addressed", noDeriver.Reason);

        var noSource = new ReIdentifiableRule().Evaluate(Evidence(Info(), request: Request(attribute: null, revision: " ")));
        Assert.False(noSource.Passed);
        Assert.Contains("does not name the source revision, flake attribute", noSource.Reason);
    }

    [Fact]
    public void Reproducible_passes_when_two_trusted_builders_agree()
    {
        var outcome = new ReproducibleRule().Evaluate(Evidence(Info(signers: [Builder1, Builder2]), Policy(trusted: [Builder1, Builder2])));
        Assert.True(outcome.Passed, outcome.Reason);
        Assert.Contains("builder-1 and builder-2 agree", outcome.Reason);
    }

    [Fact]
    public void Reproducible_passes_with_a_matching_rebuild_check()
    {
        var request = Request(rebuilds: new RebuildCheck($"/nix/store/{Hash}-hello-2.12", NarHash));
        var outcome = new ReproducibleRule().Evaluate(Evidence(Info(signers: Builder1), request: request));
        Assert.True(outcome.Passed, outcome.Reason);
        Assert.Contains("a rebuild reproduced", outcome.Reason);
    }

    [Fact]
    public void Reproducible_fails_with_one_builder_a_mismatched_rebuild_or_only_the_cache_key()
    {
        var one = new ReproducibleRule().Evaluate(Evidence(Info(signers: Builder1), Policy(trusted: [Builder1, Builder2])));
        Assert.False(one.Passed);
        Assert.Contains("only builder-1 of the trusted builders signed it", one.Reason);

        var request = Request(rebuilds: new RebuildCheck(Hash, "sha256:0000000000000000000000000000000000000000000000000000"));
        var mismatch = new ReproducibleRule().Evaluate(Evidence(Info(signers: Builder1), request: request));
        Assert.False(mismatch.Passed);
        Assert.Contains("the rebuild produced NarHash", mismatch.Reason);

        // The cache signs whatever was uploaded: its signature is no second build.
        var cacheOnly = new ReproducibleRule().Evaluate(Evidence(Info(signers: [Builder1, CacheKey]), Policy(trustCacheKey: true, trusted: Builder1)));
        Assert.False(cacheOnly.Passed);
    }

    [Fact]
    public void Intentional_passes_on_the_allow_list_by_name_or_attribute()
    {
        Assert.True(new IntentionalRule().Evaluate(Evidence(Info(), Policy(allow: ["hello-*"]))).Passed);
        Assert.True(new IntentionalRule().Evaluate(Evidence(Info(), Policy(allow: ["packages.*.hello"]))).Passed);
    }

    [Theory]
    [InlineData("hello-2.12", "packages.x86_64-linux.other", "other-*", "matches the allow-list")]
    [InlineData("hello-2.12.drv", null, "*", "never qualifies (matches '*.drv')")]
    [InlineData("hello-2.12-debug", null, "*", "'*-debug'")]
    [InlineData("hello-2.12-log", null, "*", "'*-log'")]
    [InlineData("hello-tests", null, "*", "'*-tests'")]
    [InlineData("user-environment", null, "*", "'user-environment'")]
    [InlineData("nixos-system-box-24.05", null, "*", "'nixos-system-*'")]
    [InlineData("hello-2.12", "checks.x86_64-linux.hello", "*", "is under 'checks'")]
    public void Intentional_fails_off_the_list_and_for_what_never_qualifies(string name, string? attribute, string allow, string reason)
    {
        var outcome = new IntentionalRule().Evaluate(Evidence(Info(name), Policy(allow: [allow]), Request(attribute: attribute)));
        Assert.False(outcome.Passed);
        Assert.Contains(reason, outcome.Reason);
    }
}
