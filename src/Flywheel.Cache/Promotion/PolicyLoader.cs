using System.Text.Json;
using System.Text.Json.Serialization;
using Flywheel.Cache.Nix;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace Flywheel.Cache.Promotion;

/// <summary>
/// Reads a promotion policy from its file text, JSON (text starting with <c>{</c>) or YAML:
/// <code>
/// trustedKeys: ["builder-1:base64…"]
/// trustCacheKey: true
/// allow: ["packages.*.hello", "hello-*"]
/// require:
///   oci-image: [closure-complete, provenance, intentional]
///   clean-derivation: [closure-complete, provenance, re-identifiable, reproducible, intentional]
/// requireVerifiedSource: true   # repository and revision must be those of the caller's OIDC identity
/// targets:
///   oci-image: oci://ghcr.io/org/app:latest
///   clean-derivation: flakehub://org/flake
/// </code>
/// Unknown fields, classes, rules and malformed keys are errors (<see cref="CacheError.Invalid"/>) that name what is wrong.
/// </summary>
public static class PolicyLoader
{
    /// <summary>Largest policy text accepted, characters.</summary>
    public const int MaxLength = 256 * 1024;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = false,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    private static readonly IDeserializer Yaml = new DeserializerBuilder().Build();

    public static PromotionPolicy Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength)
        {
            throw CacheException.Invalid($"the promotion policy has {text.Length} characters; at most {MaxLength} are accepted");
        }

        var document = text.TrimStart().StartsWith('{') ? ParseJson(text) : ParseYaml(text);
        return Validate(document ?? throw CacheException.Invalid("the promotion policy is empty"));
    }

    private static PolicyDocument? ParseJson(string text)
    {
        try
        {
            return JsonSerializer.Deserialize<PolicyDocument>(text, Json);
        }
        catch (JsonException e)
        {
            throw CacheException.Invalid($"the promotion policy is not valid JSON for a policy: {e.Message}");
        }
    }

    private static PolicyDocument? ParseYaml(string text)
    {
        try
        {
            return Yaml.Deserialize<PolicyDocument?>(text);
        }
        catch (YamlException e)
        {
            var inner = e.InnerException is { } i ? $" ({i.Message})" : "";
            throw CacheException.Invalid($"the promotion policy is not valid YAML for a policy at line {e.Start.Line}, column {e.Start.Column}: {e.Message}{inner}");
        }
    }

    private static PromotionPolicy Validate(PolicyDocument document)
    {
        if (document.Version is { } version && version != 1)
        {
            throw CacheException.Invalid($"promotion policy version {version} is not supported; this gateway reads version 1");
        }

        var keys = new List<NixPublicKey>();
        foreach (var text in document.TrustedKeys ?? [])
        {
            if (!NixPublicKey.TryParse(text, out var key) || key is null)
            {
                throw CacheException.Invalid($"trustedKeys: {ClientText.Quote(text)} is not a Nix public key (name:base64 of 32 bytes)");
            }

            keys.Add(key);
        }

        var allow = new List<string>();
        foreach (var pattern in document.Allow ?? [])
        {
            if (string.IsNullOrWhiteSpace(pattern) || pattern.Length > 256)
            {
                throw CacheException.Invalid($"allow: {ClientText.Quote(pattern)} is not a glob (1 to 256 characters)");
            }

            allow.Add(pattern);
        }

        var require = new Dictionary<PromotionClass, IReadOnlyList<string>>();
        foreach (var (className, rules) in document.Require ?? [])
        {
            var value = PublishableClass(className, "require");
            foreach (var rule in rules ?? [])
            {
                if (!RuleNames.All.Contains(rule))
                {
                    throw CacheException.Invalid($"require.{className}: unknown rule {ClientText.Quote(rule)}; the rules are {string.Join(", ", RuleNames.All)}");
                }
            }

            require[value] = (rules ?? []).Distinct(StringComparer.Ordinal).ToList();
        }

        var targets = new Dictionary<PromotionClass, string>();
        foreach (var (className, target) in document.Targets ?? [])
        {
            var value = PublishableClass(className, "targets");
            var parsed = PromotionTarget.Parse(target);
            if (parsed.Class != value)
            {
                throw CacheException.Invalid($"targets.{className}: {ClientText.Quote(target)} is a target for {parsed.Class.ToName()} outputs");
            }

            targets[value] = target;
        }

        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in document.Annotations ?? [])
        {
            if (string.IsNullOrWhiteSpace(key) || key.Length > 256 || value is null || value.Length > 1024)
            {
                throw CacheException.Invalid("annotations: each key is 1 to 256 characters and each value a string of at most 1024");
            }

            annotations[key] = value;
        }

        return new PromotionPolicy(keys, document.TrustCacheKey ?? false, allow, require, targets, annotations, document.RequireVerifiedSource ?? false);
    }

    private static PromotionClass PublishableClass(string name, string field) =>
        PromotionClasses.TryParse(name, out var value) && value is PromotionClass.OciImage or PromotionClass.CleanDerivation
            ? value
            : throw CacheException.Invalid($"{field}: unknown class {ClientText.Quote(name)}; the classes that publish are oci-image and clean-derivation");

    /// <summary>The file's shape, shared by the JSON and YAML readers.</summary>
    private sealed class PolicyDocument
    {
        [JsonPropertyName("version")]
        [YamlMember(Alias = "version")]
        public int? Version { get; set; }

        [JsonPropertyName("trustedKeys")]
        [YamlMember(Alias = "trustedKeys")]
        public List<string>? TrustedKeys { get; set; }

        [JsonPropertyName("trustCacheKey")]
        [YamlMember(Alias = "trustCacheKey")]
        public bool? TrustCacheKey { get; set; }

        [JsonPropertyName("allow")]
        [YamlMember(Alias = "allow")]
        public List<string>? Allow { get; set; }

        [JsonPropertyName("require")]
        [YamlMember(Alias = "require")]
        public Dictionary<string, List<string>?>? Require { get; set; }

        [JsonPropertyName("targets")]
        [YamlMember(Alias = "targets")]
        public Dictionary<string, string>? Targets { get; set; }

        [JsonPropertyName("requireVerifiedSource")]
        [YamlMember(Alias = "requireVerifiedSource")]
        public bool? RequireVerifiedSource { get; set; }

        [JsonPropertyName("annotations")]
        [YamlMember(Alias = "annotations")]
        public Dictionary<string, string>? Annotations { get; set; }
    }
}
