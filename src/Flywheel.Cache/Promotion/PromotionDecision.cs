namespace Flywheel.Cache.Promotion;

/// <summary>One rule's result in a decision.</summary>
/// <param name="Required">Whether the class it was judged for requires it; a failed required rule rejects.</param>
public sealed record RuleResult(string Rule, bool Passed, bool Required, string Reason);

/// <summary>What the gate decided, and why.</summary>
/// <param name="Candidate">The class the output would have (oci-image or clean-derivation) if it passed.</param>
/// <param name="Reasons">The failed required rules and other grounds for rejection, in words; empty when accepted.</param>
public sealed record PromotionDecision(
    PromotionClass Class,
    PromotionClass Candidate,
    string? Target,
    IReadOnlyList<RuleResult> Rules,
    IReadOnlyList<string> Reasons)
{
    public bool Accepted => Class is PromotionClass.OciImage or PromotionClass.CleanDerivation;
}
