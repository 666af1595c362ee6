namespace Flywheel.Cache.Promotion.Rules;

/// <summary>closure-complete: the output and every path in its closure (by narinfo References) are in the cache.</summary>
public sealed class ClosureCompleteRule : IPromotionRule
{
    private const int Shown = 5;

    public string Name => RuleNames.ClosureComplete;

    public RuleOutcome Evaluate(PromotionEvidence evidence)
    {
        var problems = new List<string>();
        foreach (var path in evidence.Paths)
        {
            if (path.Info is null)
            {
                problems.Add($"{path.Path.BaseName} is not in the cache");
            }
            else if (path.MissingFromClosure.Count > 0)
            {
                var shown = string.Join(", ", path.MissingFromClosure.Take(Shown));
                var more = path.MissingFromClosure.Count > Shown ? $" and {path.MissingFromClosure.Count - Shown} more" : "";
                problems.Add($"the closure of {path.Path.BaseName} lacks {shown}{more}");
            }
        }

        return RuleOutcome.FromProblems(problems, "every path of the closure is in the cache");
    }
}
