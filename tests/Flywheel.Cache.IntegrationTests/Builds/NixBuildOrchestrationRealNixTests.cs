using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Builds;

/// <summary>
/// Real Nix builds through the real daemon and its in-process worker, on two test lanes: "small" (48 MiB) and
/// "big" (1 GiB). A trivial derivation builds on the small lane, is pushed, and after its output is deleted locally
/// a warm rebuild substitutes it from the gateway; a derivation that holds 128 MiB in a shell variable is killed on
/// the small lane, rerouted to the big one and succeeds there, after which the recommendation for it is "big".
/// On this machine the envelope is a cgroup when one can be created (see the attempt's memoryLimit), else sampling.
/// </summary>
public sealed class NixBuildOrchestrationRealNixTests : IAsyncLifetime
{
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private FlywheelProcess _daemon = null!;
    private HttpClient _http = null!;
    private string _nonce = "";
    private string _file = "";

    public async Task InitializeAsync()
    {
        _nonce = _nix.NewNonce();
        _file = Path.Combine(_nix.Root, "exprs", "builds.nix");
        await File.WriteAllTextAsync(_file, $$"""
            let
              drv = name: script: builtins.derivation {
                name = "fw-build-${name}-{{_nonce}}";
                system = builtins.currentSystem;
                builder = "/bin/sh";
                args = [ "-c" script ];
              };
            in {
              hello = drv "hello" "echo hello > $out";
              hog = drv "hog" "x=$(/usr/bin/head -c 134217728 /dev/zero | /usr/bin/tr '\\0' a); echo held > $out";
            }
            """);
        var environment = _nix.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!);
        environment["FLYWHEEL_BUILDS__WORKERS"] = "1";
        environment["FLYWHEEL_LANES__0__NAME"] = "small";
        environment["FLYWHEEL_LANES__0__MEMORYBYTES"] = (48L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["FLYWHEEL_LANES__1__NAME"] = "big";
        environment["FLYWHEEL_LANES__1__MEMORYBYTES"] = (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _daemon = await FlywheelProcess.StartAsync(null, environment);
        _http = new HttpClient { BaseAddress = _daemon.BaseAddress };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _daemon.AdminToken);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _daemon.DisposeAsync();
        await _nix.DisposeAsync();
    }

    [Fact]
    public async Task A_build_runs_in_phases_is_pushed_and_a_warm_rebuild_substitutes_from_the_gateway()
    {
        var cold = await BuildAsync("hello");
        Assert.True(cold.GetProperty("status").GetString() == "succeeded", cold.ToString());
        Assert.Equal("small", cold.GetProperty("lane").GetString());
        Assert.StartsWith("recommended: no history", cold.GetProperty("laneReason").GetString(), StringComparison.Ordinal);
        var attempt = cold.GetProperty("attempts")[0];
        Assert.Equal(["bootstrap", "evaluation", "plan", "build", "upload"], attempt.GetProperty("phases").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.Equal((1, 0), (attempt.GetProperty("builtPaths").GetInt32(), attempt.GetProperty("substitutedPaths").GetInt32()));
        Assert.True(attempt.GetProperty("peakMemoryBytes").GetInt64() > 0);
        var output = cold.GetProperty("outputs")[0].GetString()!;
        Assert.Contains(_nonce, output, StringComparison.Ordinal);

        var hash = Path.GetFileName(output)[..32];
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"main/{hash}.narinfo")).StatusCode);
        var log = await _http.GetStringAsync(cold.GetProperty("log").GetString()!.TrimStart('/'));
        Assert.Contains("# build:", log, StringComparison.Ordinal);

        await _nix.DeletePathsAsync([output]);
        var warm = await BuildAsync("hello");
        Assert.True(warm.GetProperty("status").GetString() == "succeeded", warm.ToString());
        var warmAttempt = warm.GetProperty("attempts")[0];
        Assert.Equal((0, 1), (warmAttempt.GetProperty("builtPaths").GetInt32(), warmAttempt.GetProperty("substitutedPaths").GetInt32()));
        Assert.True(await _nix.IsValidAsync(output));

        var report = await _http.GetFromJsonAsync<JsonElement>("_api/v1/lanes/report");
        var hello = report.GetProperty("installables").EnumerateArray().Single(i => i.GetProperty("installable").GetString()!.EndsWith("#hello", StringComparison.Ordinal));
        Assert.Equal(JsonValueKind.Number, hello.GetProperty("coldBuildSeconds").ValueKind);
        Assert.Equal(JsonValueKind.Number, hello.GetProperty("warmBuildSeconds").ValueKind);
        Assert.Equal(JsonValueKind.Number, hello.GetProperty("bootstrapSeconds").ValueKind);
    }

    [Fact]
    public async Task A_build_killed_for_memory_is_rerouted_to_the_larger_lane_which_the_recommendation_then_names()
    {
        var build = await BuildAsync("hog");
        Assert.True(build.GetProperty("status").GetString() == "succeeded", build.ToString());
        Assert.Equal("big", build.GetProperty("lane").GetString());
        Assert.StartsWith("rerouted: attempt 1 was killed for memory on small", build.GetProperty("laneReason").GetString(), StringComparison.Ordinal);
        var attempts = build.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(["succeeded", "oom"], attempts.Select(a => a.GetProperty("outcome").GetString()));
        Assert.Equal(["big", "small"], attempts.Select(a => a.GetProperty("lane").GetString()));

        var recommendation = await _http.GetFromJsonAsync<JsonElement>($"_api/v1/lanes/recommendation?installable={Uri.EscapeDataString(_file + "#hog")}");
        Assert.Equal("big", recommendation.GetProperty("lane").GetString());
        Assert.Contains("killed for memory on small", recommendation.GetProperty("explanation").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_builds_with_wait_and_json_and_prints_the_lanes_report()
    {
        var cli = await FlywheelProcess.CliAsync(
            ["build", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken, "--cache", "main", "--file", _file, "--attr", "hello", "--wait", "--json"]);
        Assert.True(cli.ExitCode == 0, cli.ToString());
        var record = JsonDocument.Parse(cli.StandardOutput).RootElement;
        Assert.Equal("succeeded", record.GetProperty("status").GetString());
        Assert.Equal("small", record.GetProperty("attempts")[0].GetProperty("lane").GetString());
        Assert.Contains("attempt 1 on small: bootstrap ok", cli.StandardError, StringComparison.Ordinal);
        Assert.Contains(": succeeded: /nix/store/", cli.StandardError, StringComparison.Ordinal);

        var report = await FlywheelProcess.CliAsync(["lanes", "report", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken]);
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Contains("lane small:", report.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("#hello: 1 attempt(s), 0 OOM kill(s); bootstrap", report.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_process_takes_builds_of_its_lane_from_the_queue()
    {
        // a daemon without in-process workers; the worker process shares its SQLite index (one machine)
        await using var daemon = await FlywheelProcess.StartAsync(null, _nix.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!));
        using var http = new HttpClient { BaseAddress = daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", daemon.AdminToken);
        var response = await http.PostAsJsonAsync("_api/v1/builds", new { installable = _file + "#hello", cache = "main", lane = "tinyland-nix" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        var environment = _nix.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var worker = ProcessRunner.RunAsync("dotnet",
            [FlywheelProcess.FlywheelDll, "worker", "--lane", "tinyland-nix", "--server", daemon.BaseAddress.ToString(), "--token", daemon.AdminToken, "--data", daemon.DataDirectory],
            environment.ToDictionary(e => e.Key, e => (string?)e.Value), cancellationToken: cancel.Token);
        JsonElement build = default;
        while (!cancel.IsCancellationRequested)
        {
            build = await http.GetFromJsonAsync<JsonElement>($"_api/v1/builds/{id}");
            if (build.GetProperty("status").GetString() is "succeeded" or "failed" || worker.IsCompleted)
            {
                break;
            }

            await Task.Delay(250);
        }

        var workerOutput = worker.IsCompleted ? (await worker).ToString() : "(worker still running)";
        Assert.True(build.GetProperty("status").GetString() == "succeeded", build + "\n" + workerOutput);
        Assert.DoesNotContain("in-process", build.GetProperty("worker").GetString()!, StringComparison.Ordinal);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => worker);
    }

    private async Task<JsonElement> BuildAsync(string attribute)
    {
        var response = await _http.PostAsJsonAsync("_api/v1/builds", new { installable = _file + "#" + attribute, cache = "main" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var deadline = DateTime.UtcNow.AddMinutes(4);
        while (DateTime.UtcNow < deadline)
        {
            var build = await _http.GetFromJsonAsync<JsonElement>($"_api/v1/builds/{id}");
            if (build.GetProperty("status").GetString() is "succeeded" or "failed")
            {
                return build;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"build {id} did not finish; daemon output:\n{_daemon.Output}");
    }
}
