using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Builds;

/// <summary>
/// A build phase stopped at its time limit is a timeout, not an out-of-memory kill, although both end in SIGKILL (137):
/// only the envelope's own evidence marks an OOM kill. The toolchain here is a set of shell scripts standing in for
/// nix, nix-instantiate and nix-store, whose realise sleeps past the limit.
/// </summary>
public sealed class NixBuildRunnerTimeoutTests : IDisposable
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "flywheel-timeout-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_build_stopped_at_its_time_limit_is_recorded_as_a_timeout_not_as_out_of_memory()
    {
        var tools = Directory.CreateDirectory(Path.Combine(_work, "bin")).FullName;
        Script(tools, "nix", "echo 'nix (Nix) 2.8.0'");
        Script(tools, "nix-instantiate", "echo /nix/store/00000000000000000000000000000000-slow.drv");
        Script(tools, "nix-store", """
            case "$1 $2" in
              "--add "*) echo /nix/store/00000000000000000000000000000000-flywheel-bootstrap-probe ;;
              "--realise --dry-run") ;;
              *) exec /bin/sleep 120 ;;
            esac
            """);
        var settings = new NixBuildSettings(new Uri("http://127.0.0.1:1/"), null, _work, new Dictionary<string, string?>(), TimeSpan.FromSeconds(3), tools);
        using var http = new HttpClient();
        var runner = new NixBuildRunner(settings, new ProcessRunner(), http);
        var build = new BuildRecord("b1", "main", "./slow.nix#slow", "small", "asked for", BuildStatus.Running, 1,
            DateTimeOffset.UnixEpoch, null, null, "w", [], null, null);

        var result = await runner.RunAsync(build, new Lane("small", 1, 1L << 30, 1, "small"), "main-1:key", Path.Combine(_work, "attempt"), CancellationToken.None);

        Assert.Equal(BuildOutcome.TimedOut, result.Outcome);
        Assert.Equal(137, result.ExitCode);
        Assert.Equal(["bootstrap", "evaluation", "plan", "build"], result.Phases.Select(p => p.Name));
        Assert.False(result.Phases[^1].Succeeded);
        Assert.Contains("did not finish within 00:00:03", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("memory", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, false, BuildOutcome.Failed)]
    [InlineData(false, true, BuildOutcome.TimedOut)]
    [InlineData(true, false, BuildOutcome.OutOfMemory)]
    [InlineData(true, true, BuildOutcome.OutOfMemory)] // the envelope saw a memory kill before the deadline came
    public void Only_the_envelope_marks_a_memory_kill_and_only_the_deadline_a_timeout(bool outOfMemoryKilled, bool timedOut, BuildOutcome expected) =>
        Assert.Equal(expected, NixBuildRunner.FailureOutcome(outOfMemoryKilled, timedOut));

    private static void Script(string directory, string name, string body)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }
}
