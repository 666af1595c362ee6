using System.Text.Json;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.Rules;
using static Flywheel.Cache.Tests.Promotion.PromotionFixtures;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>verified-source: a promotion's declared source must be the one its caller's OIDC identity carries, when the policy asks.</summary>
public sealed class VerifiedSourceRuleTests
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";

    private static readonly VerifiedIdentity GitHub = new(
        "https://token.actions.githubusercontent.com", "repo:o/r:ref:refs/heads/main", "o/r", "refs/heads/main", Commit, "ci", "7777");

    private static PromotionPolicy Requiring() => Policy(trusted: Builder1) with { RequireVerifiedSource = true };

    [Theory]
    [InlineData("https://github.com/o/r")]
    [InlineData("https://github.com/O/R.git")]
    [InlineData("github:o/r")]
    [InlineData("o/r")]
    public void Passes_when_the_declared_source_is_the_verified_repository_and_commit(string repository)
    {
        var request = Request(repository: repository, revision: Commit.ToUpperInvariant()) with { Verified = GitHub };

        var outcome = new VerifiedSourceRule().Evaluate(Evidence(Info(signers: Builder1), Requiring(), request));

        Assert.True(outcome.Passed, outcome.Reason);
        Assert.Contains("verified by https://token.actions.githubusercontent.com", outcome.Reason);
    }

    [Fact]
    public void Fails_naming_a_mismatched_revision_or_repository()
    {
        var revision = new VerifiedSourceRule().Evaluate(Evidence(Info(signers: Builder1), Requiring(), Request(repository: "https://github.com/o/r", revision: "feedface") with { Verified = GitHub }));
        var repository = new VerifiedSourceRule().Evaluate(Evidence(Info(signers: Builder1), Requiring(), Request(repository: "https://github.com/evil/o/rr", revision: Commit) with { Verified = GitHub }));

        Assert.False(revision.Passed);
        Assert.Contains($"--revision 'feedface' is not the verified commit {Commit}", revision.Reason);
        Assert.False(repository.Passed);
        Assert.Contains("is not the verified repository o/r", repository.Reason);
    }

    [Fact]
    public void A_required_rule_rejects_a_promotion_without_a_verified_identity_and_is_left_out_when_nobody_asks()
    {
        var classifier = new PromotionClassifier();
        var info = Info(signers: Builder1);

        var required = classifier.Classify(Evidence(info, Requiring() with { Targets = Targets() }), isImage: false);
        var notAsked = classifier.Classify(Evidence(info, Policy(trusted: Builder1) with { Targets = Targets() }), isImage: false);

        Assert.Equal(PromotionClass.Rejected, required.Class);
        Assert.Contains(required.Reasons, r => r.StartsWith("verified-source: the request was not made with a token minted", StringComparison.Ordinal));
        Assert.DoesNotContain(notAsked.Rules, r => r.Rule == RuleNames.VerifiedSource);
    }

    [Fact]
    public void The_policy_file_sets_it_and_the_provenance_statement_records_the_verified_identity()
    {
        var policy = PolicyLoader.Parse("requireVerifiedSource: true\ntrustCacheKey: true\n");
        var request = Request(repository: "https://github.com/o/r", revision: Commit) with { Verified = GitHub };

        var statement = ProvenanceStatement.Create([new ProvenanceSubject("app", new string('a', 64))], request, [], [], "builder", "prm_1", DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

        Assert.True(policy.RequireVerifiedSource);
        Assert.Contains(RuleNames.VerifiedSource, policy.RequiredFor(PromotionClass.OciImage));
        using var doc = JsonDocument.Parse(statement);
        var verified = doc.RootElement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("internalParameters").GetProperty("verifiedIdentity");
        Assert.Equal("o/r", verified.GetProperty("repository").GetString());
        Assert.Equal(Commit, verified.GetProperty("commit").GetString());
        Assert.Equal("7777", verified.GetProperty("runId").GetString());
        Assert.Equal(PromotionGate.IdOf(request with { Verified = null }), PromotionGate.IdOf(Request(repository: "https://github.com/o/r", revision: Commit)));
    }

    private static Dictionary<PromotionClass, string> Targets() => new() { [PromotionClass.CleanDerivation] = "flakehub://o/r" };
}
