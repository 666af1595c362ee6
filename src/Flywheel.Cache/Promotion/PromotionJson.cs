using System.Text.Json;
using System.Text.Json.Nodes;

namespace Flywheel.Cache.Promotion;

/// <summary>The JSON documents a promotion record keeps: the request (no credentials), the decision, the publication.</summary>
public static class PromotionJson
{
    public static string Request(PromotionRequest r)
    {
        var json = new JsonObject
        {
            ["cache"] = r.Cache,
            ["storePaths"] = Strings(r.StorePaths),
            ["attribute"] = r.Attribute,
            ["repository"] = r.Repository,
            ["revision"] = r.Revision,
            ["target"] = r.Target,
            ["dryRun"] = r.DryRun,
            ["policySha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(r.Policy))),
            ["rebuilds"] = new JsonArray(r.Rebuilds.Select(x => (JsonNode)new JsonObject { ["storePath"] = x.StorePath, ["narHash"] = x.NarHash }).ToArray()),
        };
        // Only when present, so requests without a flake or a verified identity keep the ids they always had.
        if (r.FlakeSource is not null)
        {
            json["flake"] = new JsonObject
            {
                ["source"] = r.FlakeSource,
                ["sourceNarHash"] = r.FlakeSourceNarHash,
                ["outputs"] = Strings(r.FlakeOutputs ?? []),
            };
        }

        if (r.Verified is { } verified)
        {
            json["verified"] = Verified(verified);
        }

        return json.ToJsonString();
    }

    /// <summary>A verified identity as the request record and the provenance statement show it.</summary>
    public static JsonObject Verified(VerifiedIdentity v) => new()
    {
        ["issuer"] = v.Issuer,
        ["subject"] = v.Subject,
        ["repository"] = v.Repository,
        ["ref"] = v.Ref,
        ["commit"] = v.Commit,
        ["workflow"] = v.Workflow,
        ["runId"] = v.RunId,
    };

    public static string Decision(PromotionDecision d) => new JsonObject
    {
        ["class"] = d.Class.ToName(),
        ["candidate"] = d.Candidate.ToName(),
        ["target"] = d.Target,
        ["rules"] = new JsonArray(d.Rules.Select(x => (JsonNode)new JsonObject
        {
            ["rule"] = x.Rule,
            ["passed"] = x.Passed,
            ["required"] = x.Required,
            ["reason"] = x.Reason,
        }).ToArray()),
        ["reasons"] = Strings(d.Reasons),
    }.ToJsonString();

    public static string Publication(Publication p)
    {
        var details = new JsonObject();
        foreach (var (key, value) in p.Details)
        {
            details[key] = value;
        }

        return new JsonObject
        {
            ["reference"] = p.Reference,
            ["subjects"] = new JsonArray(p.Subjects.Select(s => (JsonNode)new JsonObject { ["name"] = s.Name, ["sha256"] = s.Sha256 }).ToArray()),
            ["provenanceReference"] = p.ProvenanceReference,
            ["details"] = details,
        }.ToJsonString();
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());

    /// <summary>Parses a stored document for the API (null stays null).</summary>
    public static JsonElement? Parse(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();
}
