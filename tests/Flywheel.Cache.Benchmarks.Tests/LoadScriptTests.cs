using System.Text.Json;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Benchmarks.Tests;

/// <summary>
/// bench/load/run.sh is too slow and too noisy for the suite (it runs by hand: see the README's Benchmarks section),
/// so the suite checks what is cheap: the script parses, and its report turns measurements into ratios and verdicts.
/// </summary>
public sealed class LoadScriptTests
{
    [Fact]
    public void The_load_script_is_valid_bash()
    {
        var (exit, output) = Scripts.Run("bash", "-n", RepoFiles.Path("bench", "load", "run.sh"));
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void The_report_divides_ours_by_the_baseline_the_target_names()
    {
        var folder = Directory.CreateTempSubdirectory("flywheel-report-").FullName;
        try
        {
            var results = Path.Combine(folder, "results.jsonl");
            File.WriteAllLines(results,
            [
                Row("narinfo-hot", "nginx", rps: 1000, mbs: 1, p99: 2),
                Row("narinfo-hot", "flywheel-embedded", rps: 1500, mbs: 1.5, p99: 3),
                Row("cas-put-64m", "dd", rps: 4, mbs: 300, p99: 300),
                Row("cas-put-64m", "nginx", rps: 6, mbs: 400, p99: 200),
                Row("cas-put-64m", "flywheel-embedded", rps: 3, mbs: 210, p99: 400),
                Row("findmissing-10k", "flywheel-embedded", rps: 80, mbs: 0, p99: 30, p50: 12),
                """{"scenario": "process", "server": "flywheel-embedded", "vm_hwm_mib": 180.5}""",
                """{"scenario": "process", "server": "nginx", "vm_hwm_mib": 12.0}""",
            ]);
            var json = Path.Combine(folder, "latest.json");
            var md = Path.Combine(folder, "latest.md");
            var (exit, output) = Scripts.Run("python3", RepoFiles.Path("bench", "load", "report.py"), results, json, md, "10", "2");
            Assert.True(exit == 0, output);

            var rows = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("rows").EnumerateArray()
                .Where(r => r.GetProperty("server").GetString() == "flywheel-embedded")
                .ToDictionary(r => r.GetProperty("scenario").GetString()!);
            Assert.Equal(1.5, rows["narinfo-hot"].GetProperty("ratio").GetDouble());
            Assert.True(rows["narinfo-hot"].GetProperty("met").GetBoolean()); // 1.5x req/s, p99 1.5x
            Assert.Equal(0.7, rows["cas-put-64m"].GetProperty("ratio").GetDouble()); // against dd, not nginx
            Assert.False(rows["cas-put-64m"].GetProperty("met").GetBoolean());
            Assert.True(rows["findmissing-10k"].GetProperty("met").GetBoolean());
            Assert.Contains("| flywheel-embedded | 180.5 | < 300 MiB | yes |", File.ReadAllText(md), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Row(string scenario, string server, double rps, double mbs, double p99, double p50 = 1) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["scenario"] = scenario,
            ["server"] = server,
            ["requests"] = 100,
            ["seconds"] = 10.0,
            ["rps"] = rps,
            ["mb_s"] = mbs,
            ["p50_ms"] = p50,
            ["p99_ms"] = p99,
            ["errors"] = 0,
            ["peak_rss_mib"] = 100.0,
        });
}
