using System.Text.Json;
using Flywheel.Cache.Builds;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Server.Cli;

/// <summary>A store path of the local Nix store as <c>nix path-info --json</c> describes it (references and deriver as base names).</summary>
internal sealed record LocalPathInfo(
    StorePath Path, NixHash NarHash, long NarSize, IReadOnlyList<string> References, string? Deriver, IReadOnlyList<string> Signatures, string? Ca);

/// <summary>
/// What <c>flywheel push</c> reads from the local Nix store: the closure, through the repository's one
/// <see cref="ProcessRunner"/> (<c>nix path-info --json --recursive</c>; <c>nix-store --check-validity</c> only to name
/// missing paths), and each
/// path's NAR (<see cref="NarDump"/>, streamed into the caller's stream, never held whole).
/// </summary>
internal sealed class PushLocalStore(ProcessRunner runner, string storeDir)
{
    /// <summary>Paths per <c>nix</c> call (argument lists stay far below the kernel's limit).</summary>
    private const int PathsPerCall = 1000;

    private static readonly TimeSpan QueryTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The JSON of 1000 paths is well below this (about 1 KiB a path); more would be a broken store.</summary>
    private const int MaxQueryOutputChars = 256 << 20;

    public string StoreDir => storeDir;

    /// <summary>
    /// A store path named on the command line or on stdin: a store path, a path inside one, or a symlink to one
    /// (<c>./result</c>); anything else is <see cref="CacheError.Invalid"/>.
    /// </summary>
    public StorePath Resolve(string argument)
    {
        var path = argument.Trim();
        if (path.Length == 0)
        {
            throw CacheException.Invalid("an empty path was given");
        }

        if (!path.StartsWith(storeDir + "/", StringComparison.Ordinal))
        {
            var full = System.IO.Path.GetFullPath(path);
            path = File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
        }

        if (path.StartsWith(storeDir + "/", StringComparison.Ordinal))
        {
            var slash = path.IndexOf('/', storeDir.Length + 1);
            if (StorePath.TryParse(slash < 0 ? path : path[..slash], storeDir, out var storePath, out _))
            {
                return storePath;
            }
        }

        throw CacheException.Invalid($"{ClientText.Quote(argument)} is not a path in the Nix store {storeDir}");
    }

    /// <summary>
    /// The closure of <paramref name="paths"/>, each path once; a path not in the local store is
    /// <see cref="CacheError.NotFound"/>. One <c>nix path-info</c> per 1000 paths asked, with substitution off (so a
    /// path that is missing locally is never downloaded from the user's substituters instead); only when it fails does
    /// <c>nix-store --check-validity</c> run, to name the missing paths (each <c>nix</c> process costs about 0.1 s of CPU).
    /// </summary>
    public async Task<IReadOnlyList<LocalPathInfo>> ReadClosureAsync(IReadOnlyList<StorePath> paths, CancellationToken cancellationToken)
    {
        var names = paths.Select(p => p.FullPath).Distinct(StringComparer.Ordinal).ToList();
        var closure = new Dictionary<string, LocalPathInfo>(StringComparer.Ordinal);
        foreach (var chunk in names.Chunk(PathsPerCall))
        {
            var query = await RunAsync(
                "nix", ["--extra-experimental-features", "nix-command", "path-info", "--option", "substitute", "false", "--json", "--recursive", .. chunk],
                cancellationToken, orElse: () => ThrowIfInvalidAsync(chunk, cancellationToken));
            using var json = JsonDocument.Parse(query.StandardOutput);
            foreach (var entry in json.RootElement.EnumerateArray())
            {
                var info = Parse(entry);
                closure.TryAdd(info.Path.FullPath, info);
            }
        }

        return [.. closure.Values];
    }

    private async Task ThrowIfInvalidAsync(IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        var check = await RunAsync("nix-store", ["--check-validity", "--print-invalid", .. names], cancellationToken);
        if (check.OutputLines.Count > 0)
        {
            throw CacheException.NotFound(
                $"not in the local Nix store (build or substitute it first): {string.Join(", ", check.OutputLines.Take(5))}" +
                (check.OutputLines.Count > 5 ? $" and {check.OutputLines.Count - 5} more" : ""));
        }
    }

    /// <summary>
    /// Writes the NAR of <paramref name="path"/> into <paramref name="output"/> as it is read: what <c>nix-store --dump</c>
    /// writes, made in process (<see cref="NarDump"/>), since starting <c>nix-store</c> costs more CPU than most paths'
    /// NARs. The server checks the result against the NarHash the local store recorded.
    /// </summary>
    public static Task DumpAsync(StorePath path, Stream output, CancellationToken cancellationToken) =>
        NarDump.WriteAsync(path.FullPath, output, cancellationToken);

    /// <summary>Runs a Nix tool; when it fails, <paramref name="orElse"/> (which may throw a clearer error) runs before the failure is reported.</summary>
    private async Task<ProcessResult> RunAsync(string tool, IReadOnlyList<string> arguments, CancellationToken cancellationToken, Func<Task>? orElse = null)
    {
        var command = new ProcessCommand(tool, arguments, QueryTimeout) { MaxOutputChars = MaxQueryOutputChars, MaxErrorChars = 16 * 1024 };
        var result = await runner.RunAsync(command, null, null, cancellationToken);
        if (!result.Succeeded && orElse is not null)
        {
            await orElse();
        }

        if (!result.Succeeded)
        {
            throw new CacheException(CacheError.Unavailable, $"{tool} {arguments[0]} failed (exit code {result.ExitCode}): {ClientText.Cut(result.StandardError.Trim())}");
        }

        return result;
    }

    private LocalPathInfo Parse(JsonElement entry)
    {
        var path = StorePath.Parse(entry.GetProperty("path").GetString() ?? "", storeDir);
        if (entry.TryGetProperty("valid", out var valid) && valid.ValueKind == JsonValueKind.False)
        {
            throw CacheException.NotFound($"{path} is not in the local Nix store");
        }

        var references = entry.TryGetProperty("references", out var refs)
            ? refs.EnumerateArray().Select(r => StorePath.Parse(r.GetString() ?? "", storeDir).BaseName).ToList()
            : [];
        var deriver = entry.TryGetProperty("deriver", out var d) && d.GetString() is { Length: > 0 } drv ? StorePath.Parse(drv, storeDir).BaseName : null;
        var signatures = entry.TryGetProperty("signatures", out var sigs) ? sigs.EnumerateArray().Select(s => s.GetString() ?? "").ToList() : [];
        var ca = entry.TryGetProperty("ca", out var c) && c.GetString() is { Length: > 0 } text ? text : null;
        return new LocalPathInfo(
            path, NixHash.Parse(entry.GetProperty("narHash").GetString() ?? ""), entry.GetProperty("narSize").GetInt64(), references, deriver, signatures, ca);
    }
}
