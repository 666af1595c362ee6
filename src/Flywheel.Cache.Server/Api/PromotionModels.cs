using System.Text.Json;
using Flywheel.Cache.Index;
using Flywheel.Cache.Promotion;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>POST /_api/v1/promotions</c>. <see cref="Policy"/> is the policy file's text (YAML or JSON);
/// <see cref="Credentials"/> are passed to the publisher and never stored. A FlakeHub release names
/// <see cref="FlakeSource"/> (a directory or store path holding flake.nix, on the daemon's machine) and
/// <see cref="FlakeOutputs"/> (the attributes whose output paths are promoted) instead of <see cref="StorePaths"/>.
/// </summary>
public sealed record PromotionRequestBody(
    string Cache,
    IReadOnlyList<string> StorePaths,
    string Policy,
    string? Attribute = null,
    string? Repository = null,
    string? Revision = null,
    string? Target = null,
    bool DryRun = false,
    IReadOnlyList<RebuildCheck>? Rebuilds = null,
    PublishCredentials? Credentials = null,
    string? FlakeSource = null,
    IReadOnlyList<string>? FlakeOutputs = null)
{
    public PromotionRequest ToRequest() => new(
        Cache ?? "", StorePaths ?? [], Attribute, Repository, Revision, Target, DryRun, Policy ?? "", Rebuilds ?? [], Credentials,
        FlakeSource, FlakeOutputs ?? []);
}

/// <summary>
/// A promotion as the API shows it: the decision with every rule's result, where it went, its provenance (and the
/// SHA-256 of the statement as stored, hex: the digest of the provenance document).
/// </summary>
public sealed record PromotionView(
    string Id,
    string Cache,
    string Status,
    string Class,
    string? Target,
    string? Repository,
    string? Revision,
    IReadOnlyList<string> StorePaths,
    JsonElement? Request,
    JsonElement? Decision,
    JsonElement? Publication,
    JsonElement? Provenance,
    string? ProvenanceSha256,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static PromotionView From(PromotionRecord r, string cache) => new(
        r.Id, cache, r.Status, r.Class, r.Target, r.Repository, r.Revision, r.Paths.Select(p => p.StorePath).ToList(),
        PromotionJson.Parse(r.Request), PromotionJson.Parse(r.Decision), PromotionJson.Parse(r.Publication), PromotionJson.Parse(r.Provenance),
        r.Provenance is null ? null : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(r.Provenance))),
        r.Error, r.CreatedAt, r.UpdatedAt);
}
