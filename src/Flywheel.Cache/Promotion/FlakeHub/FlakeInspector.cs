using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Promotion.FlakeHub;

/// <summary>
/// Reads a flake source with real Nix, as flakehub-push does, through the one <see cref="ProcessRunner"/>:
/// <c>nix flake metadata --json</c> (the release's <c>raw_flake_metadata</c>; its <c>path</c> is the source as Nix
/// copied it to the store, its <c>lastModified</c> the tarball's mtime), <c>nix flake show --json</c> (the outputs) and,
/// per promoted attribute, <c>nix eval</c> of its derivation and output paths. Every call passes
/// <c>--extra-experimental-features 'nix-command flakes'</c> and <c>--no-write-lock-file</c>.
/// </summary>
public sealed partial class FlakeInspector(ProcessRunner processes, string? nixBinDirectory = null)
{
    public const int MaxOutputs = 64;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    // Per output: its derivation and every output's store path (as flakehub-push's include-output-paths records them).
    private const string OutputPaths =
        "d: { derivation = d.drvPath; outputs = builtins.listToAttrs (map (o: { name = o; value = d.${o}.outPath; }) (d.outputs or [ \"out\" ])); }";

    /// <summary>Checks the source and the attributes, then asks Nix; bad input is <see cref="CacheError.Invalid"/>.</summary>
    public async Task<InspectedFlake> InspectAsync(string source, IReadOnlyList<string> attributes, CancellationToken ct)
    {
        var directory = CheckSource(source);
        if (attributes.Count is 0 or > MaxOutputs)
        {
            throw CacheException.Invalid($"a flake release promotes 1 to {MaxOutputs} flake outputs (--flake-output), not {attributes.Count}");
        }

        foreach (var attribute in attributes)
        {
            if (!Attribute().IsMatch(attribute))
            {
                throw CacheException.Invalid($"flake output {ClientText.Quote(attribute)} is not an attribute path such as packages.x86_64-linux.default");
            }
        }

        var metadataText = await NixAsync(["flake", "metadata", "--json", "--no-write-lock-file", directory], "read the flake's metadata", ct).ConfigureAwait(false);
        var metadata = ParseObject(metadataText, "nix flake metadata");
        var storeCopy = metadata["path"]?.GetValue<string>() ?? throw Failed("nix flake metadata gave no 'path'");
        var lastModified = metadata["lastModified"] is JsonValue v && v.TryGetValue<long>(out var time) ? time : throw Failed("nix flake metadata gave no integer 'lastModified'");
        var show = ParseObject(await NixAsync(["flake", "show", "--json", "--no-write-lock-file", directory], "evaluate the flake's outputs", ct).ConfigureAwait(false), "nix flake show");

        var outputs = new List<FlakeOutput>();
        foreach (var attribute in attributes.Distinct(StringComparer.Ordinal))
        {
            var evaluated = ParseObject(await NixAsync(
                ["eval", "--json", "--no-write-lock-file", directory + "#" + attribute, "--apply", OutputPaths], $"evaluate {attribute}", ct).ConfigureAwait(false), "nix eval");
            var paths = (evaluated["outputs"] as JsonObject ?? throw Failed($"{attribute} has no outputs"))
                .ToDictionary(o => o.Key, o => o.Value?.GetValue<string>() ?? throw Failed($"{attribute}.{o.Key} has no store path"), StringComparer.Ordinal);
            outputs.Add(new FlakeOutput(attribute, evaluated["derivation"]?.GetValue<string>(), paths));
        }

        // A store path is published under its own name (flakehub-push tars the store copy); a directory under its name.
        var top = directory.StartsWith(NixStoreDir, StringComparison.Ordinal) ? Path.GetFileName(storeCopy) : Path.GetFileName(directory);
        return new InspectedFlake(directory, storeCopy, top, metadataText.Trim(), metadata, lastModified, show, outputs);
    }

    private const string NixStoreDir = "/nix/store/";

    /// <summary>An absolute, normalised path to a directory holding flake.nix.</summary>
    private static string CheckSource(string source)
    {
        if (string.IsNullOrEmpty(source) || source.Length > 1024 || source.Any(char.IsControl) || !Path.IsPathFullyQualified(source))
        {
            throw CacheException.Invalid($"flake source {ClientText.Quote(source)} is not an absolute path");
        }

        var directory = source.Length > 1 ? source.TrimEnd('/') : source;
        if (Path.GetFullPath(directory) != directory)
        {
            throw CacheException.Invalid($"flake source {ClientText.Quote(source)} is not a normalised path (no '.', '..' or '//')");
        }

        if (!Directory.Exists(directory))
        {
            throw CacheException.Invalid($"flake source {ClientText.Quote(source)} is not a directory the daemon can read");
        }

        if (!File.Exists(Path.Combine(directory, "flake.nix")))
        {
            throw CacheException.Invalid($"flake source {ClientText.Quote(source)} holds no flake.nix: a FlakeHub release is a flake");
        }

        return directory;
    }

    private async Task<string> NixAsync(IReadOnlyList<string> arguments, string what, CancellationToken ct)
    {
        var command = new ProcessCommand(nixBinDirectory is null ? "nix" : Path.Combine(nixBinDirectory, "nix"),
            ["--extra-experimental-features", "nix-command flakes", .. arguments], Timeout)
        {
            MaxErrorChars = 16 * 1024,
            MaxOutputChars = 16 << 20,
        };
        var result = await processes.RunAsync(command, null, null, ct).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var error = lines.FirstOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal)) ?? lines.LastOrDefault() ?? "";
            throw CacheException.Invalid($"nix could not {what}{(result.TimedOut ? " (timed out)" : $" (exit code {result.ExitCode})")}: {ClientText.Cut(error)}");
        }

        return result.StandardOutput;
    }

    private static JsonObject ParseObject(string text, string what)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw Failed($"{what} did not print a JSON object");
        }
        catch (JsonException e)
        {
            throw Failed($"{what} did not print JSON: {e.Message}");
        }
    }

    private static CacheException Failed(string problem) => new(CacheError.Unavailable, "flake source: " + problem);

    // Nix attribute names as flake outputs use them: letters, digits, '_', '-', '\'', '+' separated by dots.
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_'+\-]*(\.[A-Za-z0-9_][A-Za-z0-9_'+\-]*){0,15}$")]
    private static partial Regex Attribute();
}

/// <summary>One promoted flake output: its attribute path, derivation and output store paths by output name.</summary>
public sealed record FlakeOutput(string Attribute, string? Derivation, IReadOnlyDictionary<string, string> Paths);

/// <summary>
/// A flake source as Nix sees it: the directory named, its store copy (what the tarball holds), the tarball's top
/// directory, <c>nix flake metadata --json</c> (as printed and parsed), its lastModified, <c>nix flake show --json</c>
/// and the promoted outputs.
/// </summary>
public sealed record InspectedFlake(
    string Source, string StoreCopy, string TopDirectory, string MetadataText, JsonObject Metadata, long LastModified, JsonObject Show,
    IReadOnlyList<FlakeOutput> Outputs)
{
    /// <summary>The NAR hash Nix locked the source at (<c>locked.narHash</c>): the source's content identity.</summary>
    public string? NarHash => Metadata["locked"]?["narHash"]?.GetValue<string>();

    /// <summary>The promoted store paths: every output of every promoted attribute, in order.</summary>
    public IReadOnlyList<string> StorePaths => Outputs.SelectMany(o => o.Paths.Values).Distinct(StringComparer.Ordinal).ToList();
}
