namespace Flywheel.Cache.Promotion.Rules;

/// <summary>provenance: the output's narinfo carries a valid signature by a trusted builder key.</summary>
public sealed class ProvenanceRule : IPromotionRule
{
    public string Name => RuleNames.Provenance;

    public RuleOutcome Evaluate(PromotionEvidence evidence)
    {
        var trusted = evidence.TrustedKeys;
        if (trusted.Count == 0)
        {
            return RuleOutcome.Fail("the policy trusts no builder key (trustedKeys is empty and trustCacheKey is off)");
        }

        var problems = new List<string>();
        var signers = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var path in evidence.Paths)
        {
            if (path.Info is null)
            {
                problems.Add($"{path.Path.BaseName} is not in the cache, so nothing signs it");
                continue;
            }

            var keys = Signatures.TrustedSigners(path.Info, trusted);
            if (keys.Count == 0)
            {
                var names = path.Info.Sigs.Select(s => s.Split(':')[0]).Distinct();
                problems.Add($"{path.Path.BaseName} has no valid signature by a trusted key (signed by: {string.Join(", ", names.DefaultIfEmpty("nobody"))})");
            }

            signers.UnionWith(keys.Select(k => k.Name));
        }

        return RuleOutcome.FromProblems(problems, $"signed by trusted {string.Join(", ", signers)}");
    }
}
