using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Builds;

/// <summary>
/// <c>flywheel build</c> against a real daemon process says on standard error when no worker serves the build's lane,
/// with the command that starts one, and keeps standard output for --json; with the embedded default's in-process
/// workers it says nothing of the kind. No build runs to its end here (Nix is not needed).
/// </summary>
public sealed class BuildCommandWorkerWarningTests
{
    private const string Advice = "no worker is serving lane tinyland-nix-heavy; start `flywheel worker --lane tinyland-nix-heavy`";

    [Fact]
    public async Task Build_warns_when_no_worker_serves_the_lane_and_keeps_json_on_stdout()
    {
        await using var daemon = await FlywheelProcess.StartAsync(null, new Dictionary<string, string> { ["FLYWHEEL_BUILDS__WORKERS"] = "0" });

        var cli = await FlywheelProcess.CliAsync(
            ["build", "--server", daemon.BaseAddress.ToString(), "--token", daemon.AdminToken, "--cache", "main", "/src/default.nix#x", "--lane", "tinyland-nix-heavy", "--json"]);

        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Contains(Advice, cli.StandardError, StringComparison.Ordinal);
        var record = JsonDocument.Parse(cli.StandardOutput).RootElement; // nothing but the record
        Assert.Equal("queued", record.GetProperty("status").GetString());
        Assert.DoesNotContain("no worker", cli.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_says_nothing_of_workers_when_the_lane_has_a_live_one()
    {
        await using var daemon = await FlywheelProcess.StartAsync(null, new Dictionary<string, string>());
        using var http = new HttpClient { BaseAddress = daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", daemon.AdminToken);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await http.GetFromJsonAsync<JsonElement>("_api/v1/lanes")).EnumerateArray().All(l => l.GetProperty("workers").GetArrayLength() > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "the in-process workers did not show as live within 60 s\n" + daemon.Output);
            await Task.Delay(200);
        }

        var cli = await FlywheelProcess.CliAsync(
            ["build", "--server", daemon.BaseAddress.ToString(), "--token", daemon.AdminToken, "--cache", "main", $"/nonexistent-{Guid.NewGuid():N}/default.nix#x", "--lane", "tinyland-nix-heavy", "--json"]);

        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.DoesNotContain("no worker is serving", cli.StandardError, StringComparison.Ordinal);
    }
}
