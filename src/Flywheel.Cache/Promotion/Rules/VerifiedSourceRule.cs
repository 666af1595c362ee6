namespace Flywheel.Cache.Promotion.Rules;

/// <summary>
/// verified-source: the request's repository and revision are those the caller's OIDC identity carries (its
/// repository or project_path claim, and its sha claim), so the provenance says what the CI job really built from.
/// A repository matches when it is the claim, or a URL or flake reference ending in <c>/</c> + the claim (with or
/// without <c>.git</c>), ignoring case; the revision must be the commit, ignoring case.
/// </summary>
public sealed class VerifiedSourceRule : IPromotionRule
{
    public string Name => RuleNames.VerifiedSource;

    public bool AppliesTo(PromotionEvidence evidence) => evidence.Policy.RequireVerifiedSource || evidence.Request.Verified is not null;

    public RuleOutcome Evaluate(PromotionEvidence evidence)
    {
        var request = evidence.Request;
        if (request.Verified is not { } verified)
        {
            return RuleOutcome.Fail("the request was not made with a token minted from a CI job's OIDC token (flywheel login), so its source is declared, not verified");
        }

        var problems = new List<string>();
        if (verified.Repository is null)
        {
            problems.Add($"the OIDC token of {verified.Issuer} names no repository");
        }
        else if (request.Repository is null)
        {
            problems.Add($"--source is not given; the verified repository is {verified.Repository}");
        }
        else if (!SameRepository(request.Repository, verified.Repository))
        {
            problems.Add($"--source {ClientText.Quote(request.Repository)} is not the verified repository {verified.Repository}");
        }

        if (verified.Commit is null)
        {
            problems.Add($"the OIDC token of {verified.Issuer} names no commit (sha)");
        }
        else if (request.Revision is null)
        {
            problems.Add($"--revision is not given; the verified commit is {verified.Commit}");
        }
        else if (!string.Equals(request.Revision, verified.Commit, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"--revision {ClientText.Quote(request.Revision)} is not the verified commit {verified.Commit}");
        }

        return RuleOutcome.FromProblems(problems, $"{verified.Repository} at {verified.Commit}, verified by {verified.Issuer} (subject {verified.Subject})");
    }

    public static bool SameRepository(string declared, string verified)
    {
        var text = declared.Trim().TrimEnd('/');
        if (text.EndsWith(".git", StringComparison.OrdinalIgnoreCase))
        {
            text = text[..^4];
        }

        return string.Equals(text, verified, StringComparison.OrdinalIgnoreCase)
            || (text.EndsWith(verified, StringComparison.OrdinalIgnoreCase) && text.Length > verified.Length
                && text[text.Length - verified.Length - 1] is '/' or ':');
    }
}
