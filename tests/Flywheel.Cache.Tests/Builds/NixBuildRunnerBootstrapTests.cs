using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Builds;

/// <summary>A missing toolchain fails in the bootstrap phase, says so, and nothing else runs.</summary>
public sealed class NixBuildRunnerBootstrapTests : IDisposable
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "flywheel-bootstrap-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_missing_toolchain_fails_in_bootstrap_with_a_message_that_says_so()
    {
        Directory.CreateDirectory(_work);
        var empty = Directory.CreateDirectory(Path.Combine(_work, "no-nix-here")).FullName;
        var settings = new NixBuildSettings(new Uri("http://127.0.0.1:1/"), "secret", _work, new Dictionary<string, string?>(), TimeSpan.FromMinutes(1), empty);
        using var http = new HttpClient();
        var runner = new NixBuildRunner(settings, new ProcessRunner(), http);
        var build = new BuildRecord("b1", "main", "./default.nix#hello", "small", "asked for", BuildStatus.Running, 1,
            DateTimeOffset.UnixEpoch, null, null, "w", [], null, null);

        var result = await runner.RunAsync(build, new Lane("small", 1, 64L << 20, 1, "small"), "main-1:key", Path.Combine(_work, "attempt"), CancellationToken.None);

        Assert.Equal(BuildOutcome.Failed, result.Outcome);
        Assert.Equal(["bootstrap"], result.Phases.Select(p => p.Name));
        Assert.False(result.Phases[0].Succeeded);
        Assert.StartsWith("bootstrap: the Nix toolchain is missing or unusable", result.Error, StringComparison.Ordinal);
        Assert.Contains("cannot run", result.Error, StringComparison.Ordinal);
        Assert.Null(result.Derivation);
    }

    public void Dispose()
    {
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }
}
