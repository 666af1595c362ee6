namespace Flywheel.Cache.Promotion;

/// <summary>The named rules of the gate, as policy files and decisions spell them.</summary>
public static class RuleNames
{
    public const string ClosureComplete = "closure-complete";
    public const string Provenance = "provenance";
    public const string ReIdentifiable = "re-identifiable";
    public const string Reproducible = "reproducible";
    public const string Intentional = "intentional";

    /// <summary>
    /// The promotion's source and revision are those its caller's OIDC identity carries; evaluated only when the policy
    /// sets <c>requireVerifiedSource</c> or the caller has a verified identity, so it is not in <see cref="All"/>.
    /// </summary>
    public const string VerifiedSource = "verified-source";

    /// <summary>Every rule, in the order decisions list them.</summary>
    public static readonly IReadOnlyList<string> All = [ClosureComplete, Provenance, ReIdentifiable, Reproducible, Intentional];
}
