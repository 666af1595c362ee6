using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Promotion.FlakeHub;

namespace Flywheel.Cache.Promotion;

/// <summary>An artifact a statement is about: a name and its SHA-256 (hex).</summary>
public sealed record ProvenanceSubject(string Name, string Sha256);

/// <summary>
/// The provenance of a promotion as an in-toto Statement v1 whose predicate is SLSA Provenance v1: the subjects
/// by digest, the source (repository, revision, flake attribute) and the store paths as resolved dependencies,
/// the gate as builder and the signing builder keys, the promotion as invocation, and its times. Each store path is a
/// resolved dependency with its NarHash (hex digest, and as Nix writes it). A flake release adds the flake source
/// (its locked URL and NAR hash, lastModified and revision) and which attribute gave which output path. A promotion asked
/// for with a token minted from a CI job's OIDC token also records the job's verified identity (issuer, subject,
/// repository, ref, commit, workflow, run) as <c>buildDefinition.internalParameters.verifiedIdentity</c>.
/// </summary>
public static class ProvenanceStatement
{
    public const string StatementType = "https://in-toto.io/Statement/v1";
    public const string PredicateType = "https://slsa.dev/provenance/v1";
    public const string BuildType = "https://flywheel.cache/promotion/v1";
    public const string MediaType = "application/vnd.in-toto+json";

    public static byte[] Create(
        IReadOnlyList<ProvenanceSubject> subjects, PromotionRequest request, IReadOnlyList<PathEvidence> paths,
        IReadOnlyList<string> builderKeys, string builderId, string promotionId, DateTimeOffset started, DateTimeOffset finished,
        InspectedFlake? flake = null)
    {
        var dependencies = new JsonArray();
        if (flake is not null)
        {
            var source = new JsonObject { ["uri"] = flake.Metadata["url"]?.GetValue<string>(), ["name"] = "flake source" };
            if (flake.NarHash is { } narHash && Nix.NixHash.TryParse(narHash, out var parsed))
            {
                source["digest"] = new JsonObject { ["sha256"] = parsed.Digest.ToHex() };
            }

            dependencies.Add(source);
        }

        if (request.Repository is not null)
        {
            var source = new JsonObject { ["uri"] = $"git+{request.Repository}@{request.Revision}" };
            if (request.Revision is not null)
            {
                source["digest"] = new JsonObject { ["gitCommit"] = request.Revision };
            }

            dependencies.Add(source);
        }

        foreach (var path in paths)
        {
            var dependency = new JsonObject { ["uri"] = "nix:" + path.Path.FullPath, ["name"] = path.Path.Name };
            if (path.Info is not null)
            {
                dependency["digest"] = new JsonObject { ["sha256"] = path.Info.NarHash.Digest.ToHex() };
                var annotations = new JsonObject { ["narHash"] = path.Info.NarHash.ToString() };
                if (path.Info.Deriver is not null)
                {
                    annotations["deriver"] = path.Path.StoreDir + "/" + path.Info.Deriver;
                }

                if (path.Attribute is not null)
                {
                    annotations["attribute"] = path.Attribute;
                }

                dependency["annotations"] = annotations;
            }

            dependencies.Add(dependency);
        }

        var statement = new JsonObject
        {
            ["_type"] = StatementType,
            ["subject"] = new JsonArray(subjects.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Name,
                ["digest"] = new JsonObject { ["sha256"] = s.Sha256 },
            }).ToArray()),
            ["predicateType"] = PredicateType,
            ["predicate"] = new JsonObject
            {
                ["buildDefinition"] = new JsonObject
                {
                    ["buildType"] = BuildType,
                    ["externalParameters"] = new JsonObject
                    {
                        ["source"] = new JsonObject
                        {
                            ["repository"] = request.Repository,
                            ["revision"] = request.Revision,
                            ["attribute"] = request.Attribute,
                        },
                        ["cache"] = request.Cache,
                        ["storePaths"] = new JsonArray(paths.Select(p => (JsonNode)JsonValue.Create(p.Path.FullPath)!).ToArray()),
                        ["target"] = request.Target,
                        ["flake"] = flake is null ? null : Flake(flake),
                    },
                    ["internalParameters"] = request.Verified is { } verified
                        ? new JsonObject { ["verifiedIdentity"] = PromotionJson.Verified(verified) }
                        : null,
                    ["resolvedDependencies"] = dependencies,
                },
                ["runDetails"] = new JsonObject
                {
                    ["builder"] = new JsonObject
                    {
                        ["id"] = builderId,
                        ["version"] = new JsonObject { ["signingKeys"] = string.Join(",", builderKeys) },
                    },
                    ["metadata"] = new JsonObject
                    {
                        ["invocationId"] = promotionId,
                        ["startedOn"] = started.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
                        ["finishedOn"] = finished.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
                    },
                },
            },
        };
        return JsonSerializer.SerializeToUtf8Bytes(statement);
    }

    private static JsonObject Flake(InspectedFlake flake)
    {
        var outputs = new JsonObject();
        foreach (var output in flake.Outputs)
        {
            var paths = new JsonObject();
            foreach (var (name, path) in output.Paths)
            {
                paths[name] = path;
            }

            outputs[output.Attribute] = paths;
        }

        return new JsonObject
        {
            ["source"] = flake.Source,
            ["url"] = flake.Metadata["url"]?.DeepClone(),
            ["narHash"] = flake.NarHash,
            ["lastModified"] = flake.LastModified,
            ["revision"] = flake.Metadata["revision"]?.DeepClone(),
            ["outputs"] = outputs,
        };
    }
}
