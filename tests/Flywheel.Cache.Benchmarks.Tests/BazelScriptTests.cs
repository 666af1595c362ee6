using System.Text.Json;
using System.Text.RegularExpressions;

namespace Flywheel.Cache.Benchmarks.Tests;

/// <summary>
/// bench/bazel/run.sh runs real Bazel for minutes (by hand: see the README's Benchmarks section), so the suite checks
/// what is cheap: the script parses, the generated workspace has the shape the issue asks for, and the report turns
/// rebuild times into medians, ratios to --disk_cache and verdicts.
/// </summary>
public sealed partial class BazelScriptTests
{
    [Fact]
    public void The_bazel_script_is_valid_bash()
    {
        var (exit, output) = Scripts.Run("bash", "-n", RepoFiles.Path("bench", "bazel", "run.sh"));
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void The_workspace_is_two_hundred_layered_genrules_from_bytes_to_eight_mebibytes_and_the_same_every_time()
    {
        var folder = Directory.CreateTempSubdirectory("flywheel-bazel-ws-").FullName;
        try
        {
            var first = Generate(Path.Combine(folder, "a"));
            var second = Generate(Path.Combine(folder, "b"));
            Assert.Equal(first, second);

            var rules = GenruleRegex().Matches(first).Select(m => new
            {
                Layer = int.Parse(m.Groups["layer"].Value, System.Globalization.CultureInfo.InvariantCulture),
                Srcs = SrcRegex().Matches(m.Groups["srcs"].Value).Select(s => s.Groups["layer"].Value).ToList(),
                Size = long.Parse(m.Groups["size"].Value, System.Globalization.CultureInfo.InvariantCulture),
            }).ToList();
            Assert.Equal(200, rules.Count);
            Assert.Equal(8, rules.Select(r => r.Layer).Distinct().Count());
            Assert.All(rules.Where(r => r.Layer == 0), r => Assert.Empty(r.Srcs));
            Assert.All(rules.Where(r => r.Layer > 0), r =>
            {
                Assert.InRange(r.Srcs.Count, 1, 3);
                Assert.All(r.Srcs, s => Assert.Equal((r.Layer - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), s));
            });
            Assert.Equal(8L * 1024 * 1024, rules.Max(r => r.Size));
            Assert.True(rules.Min(r => r.Size) < 100, "the smallest output is a few bytes");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_report_takes_medians_divides_by_the_disk_cache_and_fails_a_mode_with_a_miss()
    {
        var folder = Directory.CreateTempSubdirectory("flywheel-bazel-report-").FullName;
        try
        {
            var results = Path.Combine(folder, "results.jsonl");
            File.WriteAllLines(results,
            [
                Line("disk", "populate", 30000, 0),
                Line("grpc", "populate", 40000, 0),
                Line("http", "populate", 45000, 0),
                Line("disk", "rebuild", 10000, 200),
                Line("disk", "rebuild", 12000, 200),
                Line("disk", "rebuild", 9000, 200),
                Line("grpc", "rebuild", 11000, 200),
                Line("grpc", "rebuild", 30000, 200),
                Line("grpc", "rebuild", 11500, 200),
                Line("http", "rebuild", 12000, 200),
                Line("http", "rebuild", 12500, 199),
                Line("http", "rebuild", 11000, 200),
            ]);
            var json = Path.Combine(folder, "latest.json");
            var md = Path.Combine(folder, "latest.md");
            var (exit, output) = Scripts.Run("python3", RepoFiles.Path("bench", "bazel", "report.py"), "report", results, json, md,
                "200", "172801906", "2", "abc1234");
            Assert.True(exit == 0, output);

            var rows = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("rows").EnumerateArray()
                .ToDictionary(r => r.GetProperty("mode").GetString()!);
            Assert.Equal(10000, rows["disk"].GetProperty("median_ms").GetDouble());
            Assert.Equal(1.0, rows["disk"].GetProperty("ratio").GetDouble());
            Assert.Equal(JsonValueKind.Null, rows["disk"].GetProperty("met").ValueKind);
            Assert.Equal(1.15, rows["grpc"].GetProperty("ratio").GetDouble()); // median 11.5 s: the 30 s outlier does not count
            Assert.True(rows["grpc"].GetProperty("met").GetBoolean()); // <= 1.2x
            Assert.Equal(1.2, rows["http"].GetProperty("ratio").GetDouble());
            Assert.False(rows["http"].GetProperty("all_hits").GetBoolean());
            Assert.False(rows["http"].GetProperty("met").GetBoolean()); // within 1.3x, but one action was not a hit
            Assert.Contains("| --remote_cache=grpc:// (flywheel, REAPI v2) | 40.0 | 11.00, 30.00, 11.50 | 11.50 | 1.15x | yes | <= 1.2x | yes |",
                File.ReadAllText(md), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Generate(string dir)
    {
        var (exit, output) = Scripts.Run("python3", RepoFiles.Path("bench", "bazel", "workspace.py"), dir, "--nonce", "test");
        Assert.True(exit == 0, output);
        Assert.Equal("200", output.Split(' ')[0]);
        Assert.Equal("", File.ReadAllText(Path.Combine(dir, "WORKSPACE")));
        return File.ReadAllText(Path.Combine(dir, "BUILD"));
    }

    private static string Line(string mode, string phase, int ms, int hits) =>
        JsonSerializer.Serialize(new Dictionary<string, object?> { ["mode"] = mode, ["phase"] = phase, ["ms"] = ms, ["hits"] = hits });

    [GeneratedRegex("""name = "g(?<layer>\d+)_\d+",\s*srcs = \[(?<srcs>[^\]]*)\],[\s\S]*?truncate -s (?<size>\d+) """)]
    private static partial Regex GenruleRegex();

    [GeneratedRegex(""":g(?<layer>\d+)_\d+""")]
    private static partial Regex SrcRegex();
}
