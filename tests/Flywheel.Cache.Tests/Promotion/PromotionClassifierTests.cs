using Flywheel.Cache.Promotion;
using static Flywheel.Cache.Tests.Promotion.PromotionFixtures;

namespace Flywheel.Cache.Tests.Promotion;

public sealed class PromotionClassifierTests
{
    private static readonly PromotionClassifier Classifier = new();

    [Fact]
    public void A_clean_output_with_a_target_is_a_clean_derivation()
    {
        var evidence = Evidence(Info(signers: [Builder1, Builder2]), Policy(trusted: [Builder1, Builder2]), Request(target: "flakehub://o/hello"));
        var decision = Classifier.Classify(evidence, isImage: false);

        Assert.Equal(PromotionClass.CleanDerivation, decision.Class);
        Assert.Empty(decision.Reasons);
        Assert.Equal(RuleNames.All, decision.Rules.Select(r => r.Rule));
        Assert.All(decision.Rules, r => Assert.True(r.Passed && r.Required, r.Reason));
    }

    [Fact]
    public void A_failed_required_rule_rejects_and_names_every_failure()
    {
        var evidence = Evidence(Info(deriver: null, signers: Stranger), request: Request(target: "flakehub://o/hello"));
        var decision = Classifier.Classify(evidence, isImage: false);

        Assert.Equal(PromotionClass.Rejected, decision.Class);
        Assert.Equal(PromotionClass.CleanDerivation, decision.Candidate);
        Assert.Equal(["provenance", "re-identifiable", "reproducible"], decision.Reasons.Select(r => r.Split(':')[0]));
    }

    [Fact]
    public void An_image_needs_only_the_rules_its_class_requires()
    {
        // One builder, no rebuild check: reproducible fails but the oci-image class does not require it.
        var evidence = Evidence(Info(signers: Builder1), request: Request(target: "oci://127.0.0.1:5000/hello:1"));
        var decision = Classifier.Classify(evidence, isImage: true);

        Assert.Equal(PromotionClass.OciImage, decision.Class);
        var reproducible = decision.Rules.Single(r => r.Rule == RuleNames.Reproducible);
        Assert.False(reproducible.Passed);
        Assert.False(reproducible.Required);
    }

    [Fact]
    public void A_target_for_the_other_class_rejects()
    {
        var evidence = Evidence(Info(signers: Builder1), request: Request(target: "flakehub://o/hello"));
        var decision = Classifier.Classify(evidence, isImage: true);

        Assert.Equal(PromotionClass.Rejected, decision.Class);
        Assert.Contains(decision.Reasons, r => r.Contains("takes clean-derivation outputs"));
    }

    [Fact]
    public void Without_any_target_an_output_stays_mutable()
    {
        var decision = Classifier.Classify(Evidence(Info(signers: Builder1)), isImage: true);
        Assert.Equal(PromotionClass.Mutable, decision.Class);
    }
}
