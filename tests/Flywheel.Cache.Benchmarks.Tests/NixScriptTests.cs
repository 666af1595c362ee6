using System.Text.Json;

namespace Flywheel.Cache.Benchmarks.Tests;

/// <summary>
/// bench/nix/run.sh pushes and pulls 230 MiB with real Nix for many minutes (by hand: README, Benchmarks), so the suite
/// checks what is cheap: the scripts parse, the closure generator's plan is deterministic and shaped as documented,
/// and the report divides each gateway row by the reference its target names.
/// </summary>
public sealed class NixScriptTests
{
    [Theory]
    [InlineData("nix", "run.sh")]
    [InlineData("lib.sh")]
    public void The_scripts_are_valid_bash(params string[] path)
    {
        var (exit, output) = Scripts.Run("bash", "-n", RepoFiles.Path(["bench", .. path]));
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void The_closure_plan_is_deterministic_and_skewed_like_a_real_closure()
    {
        var script = RepoFiles.Path("bench", "nix", "closure.py");
        var (exit, first) = Scripts.Run("python3", script, "--dry-run", "--seed", "5");
        Assert.True(exit == 0, first);
        var (_, second) = Scripts.Run("python3", script, "--dry-run", "--seed", "5");
        var (_, other) = Scripts.Run("python3", script, "--dry-run", "--seed", "6");
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);

        var sizes = first.Split('\n').Where(l => l.Contains("/nix/store/", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).Order().ToList();
        Assert.Equal(300, sizes.Count);
        Assert.Equal(230L * 1024 * 1024, sizes.Sum());
        Assert.True(sizes[150] < 64 * 1024, $"median {sizes[150]} bytes: most paths should be a few KiB");
        Assert.True(sizes[^1] > 20 * 1024 * 1024, $"largest {sizes[^1]} bytes: a few paths should be tens of MiB");
    }

    [Fact]
    public void The_report_divides_each_gateway_row_by_its_reference()
    {
        var folder = Directory.CreateTempSubdirectory("flywheel-nix-report-").FullName;
        try
        {
            var results = Path.Combine(folder, "results.jsonl");
            File.WriteAllLines(results,
            [
                """{"scenario": "push", "server": "flywheel-embedded", "seconds": 6.0, "put_seconds": 3.0}""",
                """{"scenario": "push", "server": "flywheel-embedded", "seconds": 8.0, "put_seconds": 4.0}""",
                """{"scenario": "push", "server": "file", "seconds": 4.0}""",
                """{"scenario": "push", "server": "nginx-dav", "seconds": 5.0}""",
                """{"scenario": "pull", "server": "flywheel-embedded", "seconds": 2.2}""",
                """{"scenario": "pull", "server": "nginx", "seconds": 2.0}""",
                """{"scenario": "narinfo-hot", "server": "flywheel-embedded", "seconds": 10, "rps": 30000}""",
                """{"scenario": "narinfo-hot", "server": "nginx", "seconds": 10, "rps": 40000}""",
            ]);
            var json = Path.Combine(folder, "latest.json");
            var md = Path.Combine(folder, "latest.md");
            var (exit, output) = Scripts.Run("python3", RepoFiles.Path("bench", "nix", "report.py"), results, json, md, "7", "2", "2");
            Assert.True(exit == 0, output);

            var rows = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("rows").EnumerateArray()
                .ToDictionary(r => r.GetProperty("scenario").GetString()! + (r.GetProperty("reference").GetString() == "nginx-dav" ? " nginx-dav" : ""));
            Assert.Equal(1.75, rows["push"].GetProperty("ratio").GetDouble()); // median 7.0 s against file:// 4.0 s
            Assert.Equal(1.4, rows["push nginx-dav"].GetProperty("ratio").GetDouble()); // and against nginx-dav's 5.0 s
            Assert.Equal(0.5, rows["push"].GetProperty("uploads_in_flight").GetDouble());
            Assert.Equal(1.1, rows["pull"].GetProperty("ratio").GetDouble());
            Assert.Equal(0.75, rows["narinfo-hot"].GetProperty("ratio").GetDouble()); // req/s: ours over nginx's
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
