namespace Flywheel.Cache.Promotion;

/// <summary>
/// Who asked for a promotion, as an OIDC issuer signed it (not as the caller declared it): the CI job's issuer and
/// subject and the source it ran on. GitHub Actions names these claims repository, ref, sha, workflow and run_id;
/// GitLab names them project_path, ref, sha and pipeline_id.
/// </summary>
public sealed record VerifiedIdentity(
    string Issuer, string Subject, string? Repository, string? Ref, string? Commit, string? Workflow, string? RunId)
{
    /// <summary>The claims a minted token keeps, to describe its source (every other claim is dropped).</summary>
    public static readonly IReadOnlyList<string> SourceClaims =
        ["repository", "ref", "sha", "workflow", "run_id", "project_path", "pipeline_id"];

    public static VerifiedIdentity FromClaims(string issuer, string subject, IReadOnlyDictionary<string, string> claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        string? Claim(string name) => claims.TryGetValue(name, out var value) && value.Length > 0 ? value : null;
        return new VerifiedIdentity(
            issuer, subject, Claim("repository") ?? Claim("project_path"), Claim("ref"), Claim("sha"), Claim("workflow"),
            Claim("run_id") ?? Claim("pipeline_id"));
    }
}
