using System.Text.Json;

namespace Flywheel.Cache.Benchmarks.Tests;

/// <summary>
/// bench/push/run.sh pushes 230 MiB with real Nix (by hand: README, Benchmarks), so the suite checks what is cheap:
/// the script parses, the report divides each cold push by the file:// copy, and what the bench (and nix/package.nix)
/// runs, the published <c>flywheel</c>, is ReadyToRun while <c>dotnet build</c> stays IL.
/// </summary>
public sealed class PushScriptTests
{
    [Fact]
    public void The_script_is_valid_bash()
    {
        var (exit, output) = Scripts.Run("bash", "-n", RepoFiles.Path("bench", "push", "run.sh"));
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void The_report_divides_the_published_and_the_jit_cold_push_by_the_file_copy()
    {
        var work = Directory.CreateTempSubdirectory("flywheel-push-report-").FullName;
        try
        {
            // NAME seconds kib cpu gwcpu load, as run.sh's `timed` writes them
            File.WriteAllLines(Path.Combine(work, "times"),
            [
                "file-1 1.0 50000 1.1 0.1 2.0", "cold-1 3.0 100000 2.5 1.5 2.0", "jit-1 4.0 110000 3.5 1.6 2.1", "warm-1 0.5 90000 0.6 0.1 2.2",
                "file-2 2.0 50000 1.2 0.1 2.0", "cold-2 5.0 100000 2.7 1.5 2.0", "jit-2 8.0 110000 3.7 1.6 2.1", "warm-2 0.7 90000 0.7 0.1 2.2",
                "big-1 9.0 70000 5.0 3.0 2.0",
            ]);
            const string summary = """{"cache": "c", "paths": 300, "pushed": 300, "alreadyPresent": 0, "failed": 0, "narBytes": 241000000, "uploadedBytes": 109000000, "seconds": 3.0, "failures": []}""";
            foreach (var name in new[] { "cold-1", "warm-1", "big-1" })
            {
                File.WriteAllText(Path.Combine(work, name + ".out"), summary);
            }

            foreach (var name in new[] { "cold-1", "cold-2", "jit-1", "jit-2" })
            {
                File.WriteAllText(Path.Combine(work, name + ".err"), $"phase start: {name}\npushed /nix/store/x\n");
            }

            var output = Path.Combine(work, "latest");
            var (exit, text) = Scripts.Run("python3", RepoFiles.Path("bench", "push", "report.py"), work, "2", "1024", "abc1234", output);
            Assert.True(exit == 0, text);

            var report = JsonDocument.Parse(File.ReadAllText(output + ".json")).RootElement;
            var rows = report.GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal(4.0 / 1.5, rows[1].GetProperty("ratio").GetDouble(), 6); // medians: published 4.0 s, file:// 1.5 s
            Assert.Equal(6.0 / 1.5, rows[2].GetProperty("ratio").GetDouble(), 6); // the dotnet build output (JIT): 6.0 s
            Assert.Equal(["phase start: cold-2"], report.GetProperty("coldPhases").EnumerateArray().Select(p => p.GetString()));
            Assert.Equal(["phase start: jit-2"], report.GetProperty("jitPhases").EnumerateArray().Select(p => p.GetString()));
            Assert.Equal(3.6, report.GetProperty("cpu").EnumerateArray().ElementAt(2).GetProperty("commandCpu").GetDouble(), 6);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void Publish_makes_ReadyToRun_code_for_the_sdks_runtime_and_build_stays_il()
    {
        var published = Properties("-p:_IsPublishing=true");
        Assert.Equal("true", published["PublishReadyToRun"]);
        Assert.Equal(published["NETCoreSdkPortableRuntimeIdentifier"], published["RuntimeIdentifier"]);
        Assert.NotEqual("", published["RuntimeIdentifier"]);
        Assert.Equal("false", published["SelfContained"]);

        Assert.Equal("linux-arm64", Properties("-p:_IsPublishing=true", "-p:RuntimeIdentifier=linux-arm64")["RuntimeIdentifier"]);

        var built = Properties();
        Assert.Equal("", built["RuntimeIdentifier"]);
        Assert.NotEqual("true", built["PublishReadyToRun"]);
    }

    [Fact]
    public void The_daemon_and_the_cli_run_without_tiered_pgo()
    {
        Assert.Equal("false", Properties()["TieredPGO"]);
        Assert.Equal("false", Properties("-p:_IsPublishing=true")["TieredPGO"]);
    }

    /// <summary>The server project's evaluated properties (no build), as `dotnet publish` (<c>_IsPublishing</c>) or `dotnet build` sees them.</summary>
    private static Dictionary<string, string> Properties(params string[] globals)
    {
        string[] names = ["PublishReadyToRun", "RuntimeIdentifier", "SelfContained", "NETCoreSdkPortableRuntimeIdentifier", "TieredPGO"];
        var (exit, output) = Scripts.Run(
            "dotnet", ["msbuild", RepoFiles.Path("src", "Flywheel.Cache.Server", "Flywheel.Cache.Server.csproj"), "-nologo", .. names.Select(n => "-getProperty:" + n), .. globals]);
        Assert.True(exit == 0, output);
        return JsonDocument.Parse(output).RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }
}
