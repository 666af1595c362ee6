using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Promotion.Rules;

/// <summary>
/// intentional: the output is one meant for users: its flake attribute or store path name matches a glob of the
/// policy's allow-list, and it is none of what never qualifies (<see cref="NeverQualifies"/>).
/// </summary>
public sealed class IntentionalRule : IPromotionRule
{
    // Store path names: derivations, debug symbols and logs, tests, and what only makes sense on one installation
    // (profiles, system closures, generations).
    private static readonly string[] NeverNames =
    [
        "*.drv", "*-debug", "*-log", "*-logs", "*-test", "*-tests", "test-*", "tests-*",
        "user-environment", "*-user-environment", "nixos-system-*", "system-path", "etc", "*-etc",
        "home-manager-*", "*-generation", "*-profile",
    ];

    // Flake attribute path components that mark checks and tests, debug and log outputs.
    private static readonly string[] NeverAttributeParts = ["checks", "tests", "test", "debug", "log", "nixosConfigurations", "homeConfigurations"];

    public string Name => RuleNames.Intentional;

    public RuleOutcome Evaluate(PromotionEvidence evidence)
    {
        var allow = evidence.Policy.Allow;
        var problems = new List<string>();
        foreach (var attribute in evidence.Paths.Select(p => p.Attribute).Append(evidence.Request.Attribute).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            if (NeverQualifies(attribute, isAttribute: true) is { } attributeProblem)
            {
                problems.Add($"attribute '{attribute}' {attributeProblem}");
            }
        }

        foreach (var path in evidence.Paths)
        {
            var name = path.Path.Name;
            var attribute = path.Attribute ?? evidence.Request.Attribute;
            if (NeverQualifies(name, isAttribute: false) is { } problem)
            {
                problems.Add($"{path.Path.BaseName} {problem}");
                continue;
            }

            var match = allow.FirstOrDefault(g => CachePattern.Matches(g, name) || (attribute is not null && CachePattern.Matches(g, attribute)));
            if (match is null)
            {
                problems.Add(allow.Count == 0
                    ? "the policy's allow-list is empty"
                    : $"neither '{name}' nor attribute '{attribute ?? "(none)"}' matches the allow-list ({string.Join(", ", allow)})");
            }
        }

        return RuleOutcome.FromProblems(problems, "on the allow-list of user-facing outputs");
    }

    /// <summary>Why a name or attribute can never be promoted, or null.</summary>
    public static string? NeverQualifies(string name, bool isAttribute)
    {
        if (isAttribute)
        {
            var part = name.Split('.').FirstOrDefault(p => NeverAttributeParts.Contains(p, StringComparer.Ordinal));
            return part is null ? null : $"is under '{part}', which never qualifies";
        }

        var glob = NeverNames.FirstOrDefault(g => CachePattern.Matches(g, name));
        return glob is null ? null : $"is a kind of output that never qualifies (matches '{glob}')";
    }
}
