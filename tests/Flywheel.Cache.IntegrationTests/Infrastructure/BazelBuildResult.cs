using System.Text.RegularExpressions;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// A finished <c>bazel build</c>: the process, and the counts from Bazel 4.2.3's summary line, which has the forms
/// <c>INFO: 0 processes.</c>, <c>INFO: 1 process: 1 internal.</c>, <c>INFO: 5 processes: 1 internal, 4 linux-sandbox.</c>,
/// <c>INFO: 5 processes: 4 remote cache hit, 1 internal.</c> (kinds in any order; <c>--disk_cache</c> hits are also
/// counted as "remote cache hit" in 4.2.3; executed kinds are the strategy names: linux-sandbox, processwrapper-sandbox,
/// local, worker, remote…). Bazel writes all of this to stderr.
/// </summary>
public sealed partial record BazelBuildResult(ProcessResult Process, int? TotalProcesses, IReadOnlyDictionary<string, int> ProcessCounts)
{
    /// <summary>Bazel's exit code when a remote cache/executor fails at start (e.g. GetCapabilities refused): REMOTE_ERROR.</summary>
    public const int RemoteErrorExitCode = 34;

    public bool Succeeded => Process.Succeeded;

    public int ExitCode => Process.ExitCode;

    /// <summary>Everything Bazel printed (stderr, where its messages go, then stdout).</summary>
    public string Output => Process.StandardError + Process.StandardOutput;

    /// <summary>True when the summary line was found (a build that fails before execution has none).</summary>
    public bool HasSummary => TotalProcesses is not null;

    public int RemoteCacheHits => Count("remote cache hit");

    /// <summary>"disk cache hit" is a kind of newer Bazels; 4.2.3 reports disk cache hits as "remote cache hit".</summary>
    public int CacheHits => ProcessCounts.Where(p => p.Key.EndsWith("cache hit", StringComparison.Ordinal)).Sum(p => p.Value);

    /// <summary>Bazel-internal processes (symlink trees, stamping…); never looked up in a cache.</summary>
    public int Internal => Count("internal");

    /// <summary>Processes actually run (sandboxed, local, worker or remote), i.e. neither internal nor a cache hit.</summary>
    public int Executed => (TotalProcesses ?? 0) - CacheHits - Internal;

    /// <summary>Lines starting with <c>WARNING:</c>, each with its continuation lines (Bazel puts the cause on the next line).</summary>
    public IReadOnlyList<string> Warnings => Messages("WARNING:");

    /// <summary>Warnings Bazel prints when a remote (or disk) cache call fails: "Reading from Remote Cache:" and
    /// "Writing to Remote Cache:" followed by the cause, e.g. "Connection refused: /127.0.0.1:1", "401 Unauthorized",
    /// "4 errors during bulk transfer". Bazel prints each distinct warning once per build.</summary>
    public IReadOnlyList<string> RemoteCacheWarnings =>
        Warnings.Where(w => w.Contains("Remote Cache:", StringComparison.Ordinal)).ToList();

    public IReadOnlyList<string> Errors => Messages("ERROR:");

    private int Count(string kind) => ProcessCounts.TryGetValue(kind, out var n) ? n : 0;

    public BazelBuildResult EnsureSuccess()
    {
        if (!Succeeded)
        {
            throw new ProcessFailedException(Process);
        }
        return this;
    }

    public BazelBuildResult EnsureFailure()
    {
        Process.EnsureFailure();
        return this;
    }

    /// <summary>For assertion messages: the command, the counts, and Bazel's output.</summary>
    public string Describe(string what) =>
        Process.Describe($"{what} [processes: total {TotalProcesses?.ToString() ?? "?"}; " +
            string.Join(", ", ProcessCounts.Select(p => $"{p.Value} {p.Key}")) + "]");

    public override string ToString() => Describe("bazel build");

    public static BazelBuildResult From(ProcessResult process)
    {
        var (total, counts) = ParseSummary(process.StandardError + "\n" + process.StandardOutput);
        return new BazelBuildResult(process, total, counts);
    }

    /// <summary>Parses the last summary line in <paramref name="output"/>; (null, empty) when there is none.</summary>
    public static (int? Total, IReadOnlyDictionary<string, int> Counts) ParseSummary(string output)
    {
        var match = SummaryLine().Matches(output).LastOrDefault();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (match is null)
        {
            return (null, counts);
        }
        foreach (var part in match.Groups["parts"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kind = KindCount().Match(part);
            if (!kind.Success)
            {
                throw new FormatException($"Unrecognized part '{part}' in Bazel summary line '{match.Value.Trim()}'.");
            }
            var name = kind.Groups["kind"].Value;
            counts[name] = counts.GetValueOrDefault(name) + int.Parse(kind.Groups["n"].Value);
        }
        return (int.Parse(match.Groups["total"].Value), counts);
    }

    private IReadOnlyList<string> Messages(string prefix)
    {
        var result = new List<string>();
        var lines = Process.StandardError.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }
            var message = lines[i].TrimEnd('\r');
            // Continuation lines: anything up to the next tagged line (INFO:, WARNING:, ERROR:, FAILED:, progress "[").
            while (i + 1 < lines.Length && lines[i + 1].Length > 0 && !TaggedLine().IsMatch(lines[i + 1]))
            {
                message += "\n" + lines[++i].TrimEnd('\r');
            }
            result.Add(message);
        }
        return result;
    }

    [GeneratedRegex(@"^INFO: (?<total>\d+) process(?:es)?(?:: (?<parts>[^\r\n]*?))?\.\r?$", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^(?<n>\d+) (?<kind>[A-Za-z][A-Za-z0-9 _-]*)$")]
    private static partial Regex KindCount();

    [GeneratedRegex(@"^(INFO|WARNING|ERROR|FAILED|DEBUG|Loading|Analyzing|Target|Starting|\[)")]
    private static partial Regex TaggedLine();
}
