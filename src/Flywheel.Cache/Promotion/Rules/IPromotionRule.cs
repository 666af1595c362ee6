namespace Flywheel.Cache.Promotion.Rules;

/// <summary>One named check of the gate: passes or fails with a reason a person can act on.</summary>
public interface IPromotionRule
{
    string Name { get; }

    RuleOutcome Evaluate(PromotionEvidence evidence);

    /// <summary>Whether the rule has something to say about this promotion (one that does not is left out of the decision).</summary>
    bool AppliesTo(PromotionEvidence evidence) => true;
}

/// <summary>A rule's verdict before the class decides whether it was required.</summary>
public readonly record struct RuleOutcome(bool Passed, string Reason)
{
    public static RuleOutcome Pass(string reason) => new(true, reason);

    public static RuleOutcome Fail(string reason) => new(false, reason);

    /// <summary>Passes when no path failed; otherwise fails naming each failing path's problem.</summary>
    public static RuleOutcome FromProblems(List<string> problems, string passReason) =>
        problems.Count == 0 ? Pass(passReason) : Fail(string.Join("; ", problems));
}
