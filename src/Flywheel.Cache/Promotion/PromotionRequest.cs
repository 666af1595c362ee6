namespace Flywheel.Cache.Promotion;

/// <summary>
/// What CI asks the gate for: promote these store paths of a cache, built from this source, to a target.
/// Everything but <see cref="Credentials"/> is recorded with the promotion and makes up its identity.
/// </summary>
/// <param name="Policy">The policy file's text (YAML or JSON), as versioned in the caller's repository.</param>
/// <param name="Target">oci://… or flakehub://…; null: the policy's target for the class found.</param>
/// <param name="Rebuilds">Results of <c>nix build --rebuild</c> the caller ran: the NarHash it got per store path.</param>
/// <param name="FlakeSource">A directory or store path holding flake.nix, on the daemon's machine: the FlakeHub release's source.</param>
/// <param name="FlakeOutputs">With <see cref="FlakeSource"/>: the flake output attributes whose output paths are promoted
/// (the gate evaluates them; <see cref="StorePaths"/> is then empty in the request and filled by the gate).</param>
/// <param name="FlakeSourceNarHash">Set by the gate, never the caller: the source's NAR hash as Nix locked it, so a
/// changed source is a new promotion.</param>
/// <param name="Verified">The caller's identity as its OIDC issuer signed it, when its token was minted by an exchange; set by the server, never by the caller.</param>
public sealed record PromotionRequest(
    string Cache,
    IReadOnlyList<string> StorePaths,
    string? Attribute,
    string? Repository,
    string? Revision,
    string? Target,
    bool DryRun,
    string Policy,
    IReadOnlyList<RebuildCheck> Rebuilds,
    PublishCredentials? Credentials = null,
    string? FlakeSource = null,
    IReadOnlyList<string>? FlakeOutputs = null,
    string? FlakeSourceNarHash = null,
    VerifiedIdentity? Verified = null);

/// <summary>A rebuild check's result: the NarHash (<c>sha256:…</c>, any of Nix's encodings) a rebuild of the path produced.</summary>
public sealed record RebuildCheck(string StorePath, string NarHash);

/// <summary>
/// Credentials passed through to the publisher, never stored: registry user and password (or token) for the OCI
/// Bearer flow, and the CI-issued OIDC token FlakeHub accepts.
/// </summary>
public sealed record PublishCredentials(string? RegistryUser, string? RegistryPassword, string? FlakeHubToken);
