using Flywheel.Cache.Promotion.Rules;

namespace Flywheel.Cache.Promotion;

/// <summary>
/// Decides a promotion: the candidate class comes from the content (an OCI image or not); every rule is evaluated
/// and reported, and the rules the policy requires for the candidate must pass. A failed required rule, or a target
/// for the other class, rejects; no target at all (neither requested nor in the policy) leaves the output mutable.
/// </summary>
public sealed class PromotionClassifier
{
    private readonly IReadOnlyList<IPromotionRule> _rules;

    public PromotionClassifier()
        : this([new ClosureCompleteRule(), new ProvenanceRule(), new ReIdentifiableRule(), new ReproducibleRule(), new IntentionalRule(), new VerifiedSourceRule()])
    {
    }

    public PromotionClassifier(IReadOnlyList<IPromotionRule> rules)
    {
        _rules = rules;
    }

    /// <param name="isImage">Whether the output's content is an OCI image (see <c>Oci/ImageInspector</c>).</param>
    /// <param name="notAnImage">Why an output that looked like an image is not one (a broken or unsupported image), for the reasons.</param>
    public PromotionDecision Classify(PromotionEvidence evidence, bool isImage, string? notAnImage = null)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        var candidate = isImage ? PromotionClass.OciImage : PromotionClass.CleanDerivation;
        var required = evidence.Policy.RequiredFor(candidate);
        var results = new List<RuleResult>(_rules.Count);
        var reasons = new List<string>();
        foreach (var rule in _rules)
        {
            if (!rule.AppliesTo(evidence))
            {
                continue;
            }

            var outcome = rule.Evaluate(evidence);
            var isRequired = required.Contains(rule.Name);
            results.Add(new RuleResult(rule.Name, outcome.Passed, isRequired, outcome.Reason));
            if (isRequired && !outcome.Passed)
            {
                reasons.Add($"{rule.Name}: {outcome.Reason}");
            }
        }

        var target = evidence.Request.Target ?? (evidence.Policy.Targets.TryGetValue(candidate, out var fromPolicy) ? fromPolicy : null);
        if (target is not null)
        {
            var parsed = PromotionTarget.Parse(target);
            if (parsed.Class != candidate)
            {
                reasons.Add($"target {target} takes {parsed.Class.ToName()} outputs, and this output is {(isImage ? "an OCI image" : notAnImage is null ? "not an OCI image" : "not an OCI image: " + notAnImage)}");
            }
        }

        var value = reasons.Count > 0 ? PromotionClass.Rejected : target is null ? PromotionClass.Mutable : candidate;
        return new PromotionDecision(value, candidate, target, results, reasons);
    }
}
