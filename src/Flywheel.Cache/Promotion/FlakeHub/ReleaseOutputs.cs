using System.Text.Json.Nodes;

namespace Flywheel.Cache.Promotion.FlakeHub;

/// <summary>
/// A release's <c>outputs</c> in the shape flakehub-push sends (its flake-schemas inventory): <c>{"version": 1, "docs":
/// {}, "inventory": {OUTPUT: {"children": {…}}}}</c>, built from <c>nix flake show --json</c> of the source. Each leaf
/// carries <c>forSystems</c> (for per-system outputs), <c>shortDescription</c> and <c>what</c> (Nix's type, e.g.
/// <c>derivation</c>); a promoted attribute's leaf also carries <c>derivation</c> (the .drv) and <c>outputs</c> (output name →
/// store path), as flakehub-push's include-output-paths records them.
/// </summary>
public static class ReleaseOutputs
{
    private static readonly HashSet<string> PerSystem = new(StringComparer.Ordinal) { "packages", "apps", "checks", "devShells", "formatter", "legacyPackages" };

    public static JsonObject Create(InspectedFlake flake)
    {
        var inventory = new JsonObject();
        foreach (var (name, node) in flake.Show)
        {
            if (node is JsonObject tree)
            {
                inventory[name] = Node(tree, [name]);
            }
        }

        foreach (var output in flake.Outputs)
        {
            var leaf = Leaf(inventory, output.Attribute.Split('.'));
            leaf["derivation"] = output.Derivation;
            var paths = new JsonObject();
            foreach (var (name, path) in output.Paths)
            {
                paths[name] = path;
            }

            leaf["outputs"] = paths;
        }

        return new JsonObject { ["version"] = 1, ["docs"] = new JsonObject(), ["inventory"] = inventory };
    }

    private static JsonObject Node(JsonObject shown, IReadOnlyList<string> path)
    {
        if (shown["type"] is JsonValue type && type.TryGetValue<string>(out var what))
        {
            return new JsonObject
            {
                ["forSystems"] = path.Count > 1 && PerSystem.Contains(path[0]) ? new JsonArray(JsonValue.Create(path[1])) : null,
                ["shortDescription"] = shown["description"]?.GetValue<string>() ?? "",
                ["what"] = what,
            };
        }

        var children = new JsonObject();
        foreach (var (name, child) in shown)
        {
            if (child is JsonObject tree)
            {
                children[name] = Node(tree, [.. path, name]);
            }
        }

        return new JsonObject { ["children"] = children };
    }

    /// <summary>The leaf at <paramref name="attribute"/>, made when <c>nix flake show</c> did not list it (e.g. legacyPackages).</summary>
    private static JsonObject Leaf(JsonObject inventory, string[] attribute)
    {
        var level = inventory;
        for (var i = 0; i < attribute.Length - 1; i++)
        {
            if (level[attribute[i]] is not JsonObject node)
            {
                level[attribute[i]] = node = new JsonObject { ["children"] = new JsonObject() };
            }

            level = node["children"] as JsonObject ?? (JsonObject)(node["children"] = new JsonObject());
        }

        if (level[attribute[^1]] is not JsonObject leaf || leaf.ContainsKey("children"))
        {
            level[attribute[^1]] = leaf = new JsonObject
            {
                ["forSystems"] = attribute.Length > 1 && PerSystem.Contains(attribute[0]) ? new JsonArray(JsonValue.Create(attribute[1])) : null,
                ["shortDescription"] = "",
                ["what"] = "derivation",
            };
        }

        return leaf;
    }
}
