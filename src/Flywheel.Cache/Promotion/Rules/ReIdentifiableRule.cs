namespace Flywheel.Cache.Promotion.Rules;

/// <summary>
/// re-identifiable: someone can find the output again from its recipe: it has a deriver (or is content-addressed)
/// and the request names its source (repository, revision and flake attribute).
/// </summary>
public sealed class ReIdentifiableRule : IPromotionRule
{
    public string Name => RuleNames.ReIdentifiable;

    public RuleOutcome Evaluate(PromotionEvidence evidence)
    {
        var problems = new List<string>();
        var request = evidence.Request;
        var missing = new List<string>();
        if (string.IsNullOrWhiteSpace(request.Repository))
        {
            missing.Add("repository");
        }

        if (string.IsNullOrWhiteSpace(request.Revision))
        {
            missing.Add("revision");
        }

        if (string.IsNullOrWhiteSpace(request.Attribute))
        {
            missing.Add("flake attribute");
        }

        if (missing.Count > 0)
        {
            problems.Add($"the request does not name the source {string.Join(", ", missing)}");
        }

        foreach (var path in evidence.Paths)
        {
            if (path.Info is null)
            {
                problems.Add($"{path.Path.BaseName} is not in the cache, so its deriver is unknown");
            }
            else if (path.Info.Deriver is null && path.Info.Ca is null)
            {
                problems.Add($"{path.Path.BaseName} has no deriver and is not content-addressed");
            }
        }

        return RuleOutcome.FromProblems(problems, $"{request.Repository}@{request.Revision}#{request.Attribute}, with a deriver or content address");
    }
}
