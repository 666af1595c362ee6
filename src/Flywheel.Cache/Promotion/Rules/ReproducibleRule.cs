using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Rules;

/// <summary>
/// reproducible: evidence that a second build gave the same bytes. Either the narinfo carries valid signatures by two
/// different trusted builder keys (each signs the fingerprint, which includes the NarHash, so they agree on it; the
/// cache's own key does not count here, as it signs whatever was uploaded), or the request carries a rebuild check
/// whose NarHash equals the cached one.
/// </summary>
public sealed class ReproducibleRule : IPromotionRule
{
    public string Name => RuleNames.Reproducible;

    public RuleOutcome Evaluate(PromotionEvidence evidence)
    {
        var builders = evidence.Policy.TrustedKeys.Where(k => !k.Equals(evidence.CacheKey)).ToList();
        var problems = new List<string>();
        var how = new List<string>();
        foreach (var path in evidence.Paths)
        {
            if (path.Info is null)
            {
                problems.Add($"{path.Path.BaseName} is not in the cache");
                continue;
            }

            var rebuilds = evidence.Request.Rebuilds.Where(r => Names(r.StorePath, path.Path)).ToList();
            var signers = Signatures.TrustedSigners(path.Info, builders);
            if (signers.Count >= 2)
            {
                how.Add($"{path.Path.BaseName}: builders {signers[0].Name} and {signers[1].Name} agree on {path.Info.NarHash}");
                continue;
            }

            if (rebuilds.Count == 0)
            {
                problems.Add($"{path.Path.BaseName}: {(signers.Count == 1 ? $"only {signers[0].Name} of the trusted builders signed it" : "no two trusted builders signed it")}, and the request has no rebuild check for it");
                continue;
            }

            var mismatch = rebuilds.FirstOrDefault(r => !NixHash.TryParse(r.NarHash, out var hash) || hash != path.Info.NarHash);
            if (mismatch is not null)
            {
                problems.Add($"{path.Path.BaseName}: the rebuild produced NarHash {mismatch.NarHash}, the cache has {path.Info.NarHash}");
                continue;
            }

            how.Add($"{path.Path.BaseName}: a rebuild reproduced {path.Info.NarHash}");
        }

        return RuleOutcome.FromProblems(problems, string.Join("; ", how));
    }

    private static bool Names(string requested, StorePath path) =>
        requested == path.FullPath || requested == path.BaseName || requested == path.HashPart;
}
