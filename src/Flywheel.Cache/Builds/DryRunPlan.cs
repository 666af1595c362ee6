namespace Flywheel.Cache.Builds;

/// <summary>
/// What <c>nix-store --realise --dry-run</c> says it would do: derivations to build and paths to fetch from a
/// substituter. Nix prints (on standard error) blocks headed "these N derivations will be built:" / "this derivation
/// will be built:" and "these N paths will be fetched (…):" / "this path will be fetched (…):", one indented store
/// path per line.
/// </summary>
public sealed record DryRunPlan(IReadOnlyList<string> ToBuild, IReadOnlyList<string> ToFetch)
{
    public static DryRunPlan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var build = new List<string>();
        var fetch = new List<string>();
        List<string>? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("  ", StringComparison.Ordinal) && current is not null && line.TrimStart().StartsWith('/'))
            {
                current.Add(line.Trim());
                continue;
            }

            var header = line.TrimStart();
            current = header.StartsWith("these ", StringComparison.Ordinal) || header.StartsWith("this ", StringComparison.Ordinal)
                ? header.Contains(" will be built", StringComparison.Ordinal) ? build
                : header.Contains(" will be fetched", StringComparison.Ordinal) ? fetch
                : null
                : null;
        }

        return new DryRunPlan(build, fetch);
    }
}
