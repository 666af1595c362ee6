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
        await File.WriteAllTextAsync(_file, BuildsExpression(_nonce));
        var environment = _nix.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!);
        AddTestLanes(environment);
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

    /// <summary>The derivations these tests build (a <c>/bin/sh</c> builder, no nixpkgs), named with <paramref name="nonce"/>; <c>hog</c> holds 128 MiB.</summary>
    internal static string BuildsExpression(string nonce) =>
        $$"""
        let
          drv = name: script: builtins.derivation {
            name = "fw-build-${name}-{{nonce}}";
            system = builtins.currentSystem;
            builder = "/bin/sh";
            args = [ "-c" script ];
          };
        in {
          hello = drv "hello" "echo hello > $out";
          hog = drv "hog" "x=$(/usr/bin/head -c 134217728 /dev/zero | /usr/bin/tr '\\0' a); echo held > $out";
          slow = drv "slow" "/bin/sleep 6; echo slept > $out";
          stuck = drv "stuck" "/bin/sleep 600; echo woke > $out";
          pause1 = drv "pause1" "/bin/sleep 4; echo 1 > $out";
          pause2 = drv "pause2" "/bin/sleep 4; echo 2 > $out";
          pause3 = drv "pause3" "/bin/sleep 4; echo 3 > $out";
        }
        """;

    /// <summary>One in-process worker and two lanes: "small" (48 MiB, where the hog is killed) and "big" (1 GiB).</summary>
    internal static void AddTestLanes(Dictionary<string, string> environment)
    {
        environment["FLYWHEEL_BUILDS__WORKERS"] = "1";
        environment["FLYWHEEL_LANES__0__NAME"] = "small";
        environment["FLYWHEEL_LANES__0__MEMORYBYTES"] = (48L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["FLYWHEEL_LANES__1__NAME"] = "big";
        environment["FLYWHEEL_LANES__1__MEMORYBYTES"] = (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture);
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

        // the lanes report shows both lanes: the kill on small (with its peak and duration) next to the success on big
        var report = await _http.GetFromJsonAsync<JsonElement>("_api/v1/lanes/report");
        var hog = report.GetProperty("installables").EnumerateArray().Single(i => i.GetProperty("installable").GetString() == _file + "#hog");
        var lanes = hog.GetProperty("lanes").EnumerateArray().ToDictionary(l => l.GetProperty("lane").GetString()!);
        Assert.Equal(["small", "big"], lanes.Keys);
        var kill = Assert.Single(lanes["small"].GetProperty("outOfMemoryKills").EnumerateArray());
        Assert.Equal((1, 0), (lanes["small"].GetProperty("runs").GetInt32(), lanes["small"].GetProperty("succeeded").GetInt32()));
        Assert.Equal(attempts[1].GetProperty("peakMemoryBytes").GetInt64(), kill.GetProperty("peakMemoryBytes").GetInt64());
        Assert.Equal(attempts[1].GetProperty("finishedAt").GetDateTimeOffset(), kill.GetProperty("at").GetDateTimeOffset());
        Assert.True(kill.GetProperty("seconds").GetDouble() > 0);
        Assert.Equal((1, 1), (lanes["big"].GetProperty("runs").GetInt32(), lanes["big"].GetProperty("succeeded").GetInt32()));
        Assert.Empty(lanes["big"].GetProperty("outOfMemoryKills").EnumerateArray());

        var recommendation = await _http.GetFromJsonAsync<JsonElement>($"_api/v1/lanes/recommendation?installable={Uri.EscapeDataString(_file + "#hog")}");
        Assert.Equal("big", recommendation.GetProperty("lane").GetString());
        Assert.Contains("killed for memory on small", recommendation.GetProperty("explanation").GetString(), StringComparison.Ordinal);

        // the same story in /metrics: attempts by lane and outcome, the reroute, phase durations and peaks per lane
        var metrics = await _http.GetStringAsync("metrics");
        Assert.Contains("flywheel_build_attempts_total{lane=\"small\",outcome=\"oom\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("flywheel_build_attempts_total{lane=\"big\",outcome=\"succeeded\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("flywheel_build_oom_reroutes_total{lane=\"small\",to=\"big\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("flywheel_build_phase_duration_seconds_count{lane=\"big\",phase=\"build\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("flywheel_build_phase_duration_seconds_count{lane=\"small\",phase=\"bootstrap\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("flywheel_build_peak_memory_bytes_count{lane=\"big\"} 1", metrics, StringComparison.Ordinal);
        Assert.Matches(new System.Text.RegularExpressions.Regex("^flywheel_build_peak_memory_bytes_sum\\{lane=\"big\"\\} [1-9]", System.Text.RegularExpressions.RegexOptions.Multiline), metrics);
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
        Assert.DoesNotContain('\r', cli.StandardError); // not a terminal: plain lines
        Assert.Contains(": succeeded: /nix/store/", cli.StandardError, StringComparison.Ordinal);

        var report = await FlywheelProcess.CliAsync(["lanes", "report", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken]);
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Contains("lane small:", report.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("#hello: 1 attempt(s), 0 OOM kill(s); bootstrap", report.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_terminal_the_cli_shows_a_live_line_per_phase()
    {
        // script(1) gives the CLI a pseudo-terminal; everything it writes comes back on script's standard output
        string[] command = ["dotnet", FlywheelProcess.FlywheelDll, "build", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken,
            "--cache", "main", "--file", _file, "--attr", "slow", "--wait"];
        var tty = await TestProcess.RunAsync("script", ["-qec", new ProcessCommand(command[0], command[1..], TimeSpan.Zero).ToString(), "/dev/null"],
            new Dictionary<string, string?> { ["TERM"] = "xterm" });
        Assert.True(tty.ExitCode == 0, tty.ToString());
        Assert.Matches(new System.Text.RegularExpressions.Regex("\\rbuild b[0-9a-f]+: attempt 1 on small: build … [0-9.]+ s"), tty.StandardOutput);
        Assert.Contains(": succeeded: /nix/store/", tty.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_builds_a_local_path_flake_with_wait_and_json()
    {
        // a flake without inputs (nothing to fetch), its derivation written with builtins only; flakes evaluate purely, so
        // the system is spelled out instead of builtins.currentSystem
        var flake = Directory.CreateDirectory(Path.Combine(_nix.Root, "flake-" + _nonce)).FullName;
        var system = (System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "aarch64" : "x86_64") + "-linux";
        await File.WriteAllTextAsync(Path.Combine(flake, "flake.nix"), $$"""
            {
              outputs = { self }: {
                greeting = builtins.derivation {
                  name = "fw-flake-greeting-{{_nonce}}";
                  system = "{{system}}";
                  builder = "/bin/sh";
                  args = [ "-c" "echo from a flake > $out" ];
                };
              };
            }
            """);

        var cli = await FlywheelProcess.CliAsync(
            ["build", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken, "--cache", "main", $"path:{flake}#greeting", "--wait", "--json"]);
        Assert.True(cli.ExitCode == 0, cli + "\n" + _daemon.Output);
        var record = JsonDocument.Parse(cli.StandardOutput).RootElement;
        Assert.Equal("succeeded", record.GetProperty("status").GetString());
        Assert.Equal($"path:{flake}#greeting", record.GetProperty("installable").GetString());
        var attempt = record.GetProperty("attempts")[0];
        Assert.Equal(["bootstrap", "evaluation", "plan", "build", "upload"], attempt.GetProperty("phases").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        var output = record.GetProperty("outputs")[0].GetString()!;
        Assert.EndsWith($"-fw-flake-greeting-{_nonce}", output, StringComparison.Ordinal);
        Assert.Equal("from a flake\n", await File.ReadAllTextAsync(output));
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"main/{Path.GetFileName(output)[..32]}.narinfo")).StatusCode);
        Assert.StartsWith("/main/log/", record.GetProperty("log").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_build_failing_in_evaluation_keeps_its_log_readable_through_the_build()
    {
        var build = await BuildAsync("nope");
        Assert.True(build.GetProperty("status").GetString() == "failed", build.ToString());
        var phases = build.GetProperty("attempts")[0].GetProperty("phases").EnumerateArray().ToList();
        Assert.Equal([("bootstrap", true), ("evaluation", false)], phases.Select(p => (p.GetProperty("name").GetString(), p.GetProperty("succeeded").GetBoolean())));
        var link = build.GetProperty("log").GetString()!;
        Assert.Equal($"/_api/v1/builds/{build.GetProperty("id").GetString()}/log", link);

        var log = await _http.GetStringAsync(link.TrimStart('/'));
        Assert.Contains("# evaluation failed:", log, StringComparison.Ordinal);
        Assert.Contains("nope", log, StringComparison.Ordinal); // Nix's own message names the missing attribute
    }

    [Fact]
    public async Task A_build_failing_in_bootstrap_keeps_its_log_readable_through_the_build()
    {
        // the daemon's in-process worker finds no Nix on its PATH
        var environment = _nix.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!);
        environment["PATH"] = Path.Combine(_nix.Root, "no-nix-here");
        environment["FLYWHEEL_BUILDS__WORKERS"] = "1";
        await using var daemon = await FlywheelProcess.StartAsync(null, environment);
        using var http = DaemonClient(daemon);

        var build = await BuildAsync(daemon, http, _file + "#hello");
        Assert.True(build.GetProperty("status").GetString() == "failed", build.ToString());
        Assert.StartsWith("bootstrap: the Nix toolchain is missing", build.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(["bootstrap"], build.GetProperty("attempts")[0].GetProperty("phases").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        var log = await http.GetStringAsync(build.GetProperty("log").GetString()!.TrimStart('/'));
        Assert.Contains("# bootstrap: nix --version", log, StringComparison.Ordinal);
        Assert.Contains("# bootstrap failed: cannot run 'nix'", log, StringComparison.Ordinal);

        using var anonymous = new HttpClient { BaseAddress = daemon.BaseAddress };
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("_api/v1/builds/bnope/log")).StatusCode);
    }

    [Fact]
    public async Task With_default_settings_a_worker_per_lane_takes_the_build_that_the_cli_waits_for()
    {
        // no Builds:Workers: the embedded default runs an in-process worker on each lane (before, nothing took the build)
        await using var daemon = await FlywheelProcess.StartAsync(null, DaemonEnvironment([]));
        var cli = await FlywheelProcess.CliAsync(
            ["build", "--server", daemon.BaseAddress.ToString(), "--token", daemon.AdminToken, "--cache", "main", "--file", _file, "--attr", "hello", "--lane", "tinyland-nix-heavy", "--wait", "--json"]);
        Assert.True(cli.ExitCode == 0, cli + "\n" + daemon.Output);
        var record = JsonDocument.Parse(cli.StandardOutput).RootElement;
        Assert.Equal("succeeded", record.GetProperty("status").GetString());
        Assert.EndsWith("/in-process-tinyland-nix-heavy", record.GetProperty("worker").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_build_stopped_at_its_time_limit_is_a_timeout_not_an_out_of_memory_kill()
    {
        // the runner itself, with a phase limit of 15 s, against the test daemon as substituter; the derivation sleeps for 10 min
        var cache = await _http.GetFromJsonAsync<JsonElement>("_api/v1/caches/main");
        var work = Directory.CreateDirectory(Path.Combine(_nix.Root, "timeout-" + _nonce)).FullName;
        using var http = new HttpClient();
        var runner = new Flywheel.Cache.Builds.NixBuildRunner(
            new Flywheel.Cache.Builds.NixBuildSettings(_daemon.BaseAddress, _daemon.AdminToken, work, _nix.Environment, TimeSpan.FromSeconds(15)),
            new ProcessRunner(), http);
        var build = new Flywheel.Cache.Index.BuildRecord("btimeout", "main", _file + "#stuck", "small", "asked for", Flywheel.Cache.Index.BuildStatus.Running, 1,
            DateTimeOffset.UtcNow, null, null, "test", [], null, null);

        var result = await runner.RunAsync(build, new Flywheel.Cache.Builds.Lane("small", 1, 1L << 30, 1, "small"), cache.GetProperty("publicKey").GetString()!,
            Path.Combine(work, "attempt"), CancellationToken.None);

        Assert.True(result.Outcome == Flywheel.Cache.Index.BuildOutcome.TimedOut, $"{result.Outcome}: {result.Error}\n{await File.ReadAllTextAsync(result.LogFile)}");
        Assert.Equal("build", result.Phases[^1].Name);
        Assert.Contains("did not finish within 00:00:15", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("memory", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_process_takes_builds_of_its_lane_from_the_queue()
    {
        // a daemon without in-process workers; the worker process shares its SQLite index (one machine)
        await using var daemon = await FlywheelProcess.StartAsync(null, DaemonEnvironment(NoInProcessWorkers));
        using var http = DaemonClient(daemon);
        var id = await SubmitAsync(http, "hello", "tinyland-nix");

        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var worker = StartWorker(daemon, "tinyland-nix", new Dictionary<string, string>(), cancel.Token);
        var build = await WaitForAsync(http, id, b => BuildFinished(b) || worker.IsCompleted, cancel.Token);

        // the API shows the worker process as live on its lane (and none on the other), from its polls recorded in the index
        var lanes = await http.GetFromJsonAsync<JsonElement>("_api/v1/lanes");
        var served = lanes.EnumerateArray().ToDictionary(l => l.GetProperty("name").GetString()!, l => l.GetProperty("workers").EnumerateArray().ToList());
        Assert.Empty(served["tinyland-nix-heavy"]);
        var live = Assert.Single(served["tinyland-nix"]);
        Assert.Equal(build.GetProperty("worker").GetString(), live.GetProperty("id").GetString());
        Assert.Equal(Environment.MachineName, live.GetProperty("host").GetString());

        var workerOutput = worker.IsCompleted ? (await worker).ToString() : "(worker still running)";
        Assert.True(build.GetProperty("status").GetString() == "succeeded", build + "\n" + workerOutput);
        Assert.DoesNotContain("in-process", build.GetProperty("worker").GetString()!, StringComparison.Ordinal);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => worker);
    }

    [Fact]
    public async Task A_build_whose_worker_process_is_killed_is_reclaimed_after_its_lease_and_finished_by_another_worker()
    {
        var lease = new Dictionary<string, string> { ["FLYWHEEL_BUILDS__LEASE"] = "00:00:03" };
        await using var daemon = await FlywheelProcess.StartAsync(null, DaemonEnvironment(lease.Concat(NoInProcessWorkers)));
        using var http = DaemonClient(daemon);
        var id = await SubmitAsync(http, "slow", "tinyland-nix");

        using var first = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var doomed = StartWorker(daemon, "tinyland-nix", lease, first.Token);
        var running = await WaitForAsync(http, id, b => b.GetProperty("status").GetString() == "running" || doomed.IsCompleted, first.Token);
        Assert.True(running.GetProperty("status").GetString() == "running", running + "\n" + (doomed.IsCompleted ? (await doomed).ToString() : ""));
        var deadWorker = running.GetProperty("worker").GetString();
        await Task.Delay(TimeSpan.FromSeconds(3)); // into the 6 s build, with heartbeats renewing the 3 s lease
        Assert.Equal(("running", 1), await StatusAsync(http, id));
        await first.CancelAsync(); // SIGKILL to the worker and its Nix processes: a runner pod that died
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => doomed);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(("running", 1), await StatusAsync(http, id)); // nobody else looks yet

        using var second = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var rescuer = StartWorker(daemon, "tinyland-nix", lease, second.Token);
        var build = await WaitForAsync(http, id, b => BuildFinished(b) || rescuer.IsCompleted, second.Token);
        var rescuerOutput = rescuer.IsCompleted ? (await rescuer).ToString() : "(worker still running)";
        Assert.True(build.GetProperty("status").GetString() == "succeeded", build + "\n" + rescuerOutput);
        Assert.Equal(2, build.GetProperty("attempt").GetInt32());
        Assert.NotEqual(deadWorker, build.GetProperty("worker").GetString());
        var attempts = build.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(["succeeded", "lost"], attempts.Select(a => a.GetProperty("outcome").GetString()));
        Assert.Equal([2, 1], attempts.Select(a => a.GetProperty("attempt").GetInt32()));
        await second.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rescuer);
    }

    [Fact]
    public async Task A_worker_process_runs_up_to_its_lane_concurrency_builds_at_once()
    {
        var lanes = new Dictionary<string, string>
        {
            ["FLYWHEEL_LANES__0__NAME"] = "pair",
            ["FLYWHEEL_LANES__0__MEMORYBYTES"] = (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["FLYWHEEL_LANES__0__CONCURRENCY"] = "2",
        };
        await using var daemon = await FlywheelProcess.StartAsync(null, DaemonEnvironment(lanes.Concat(NoInProcessWorkers)));
        using var http = DaemonClient(daemon);
        var ids = new List<string>();
        foreach (var attribute in new[] { "pause1", "pause2", "pause3" })
        {
            ids.Add(await SubmitAsync(http, attribute, "pair"));
        }

        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var worker = StartWorker(daemon, "pair", lanes, cancel.Token);
        var builds = new List<JsonElement>();
        foreach (var id in ids)
        {
            builds.Add(await WaitForAsync(http, id, b => BuildFinished(b) || worker.IsCompleted, cancel.Token));
        }

        var workerOutput = worker.IsCompleted ? (await worker).ToString() : "(worker still running)";
        Assert.All(builds, b => Assert.True(b.GetProperty("status").GetString() == "succeeded", b + "\n" + workerOutput));
        var spans = builds.Select(b => (Start: b.GetProperty("startedAt").GetDateTimeOffset(), End: b.GetProperty("finishedAt").GetDateTimeOffset())).ToList();
        int Overlapping(DateTimeOffset at) => spans.Count(s => s.Start <= at && at < s.End);
        var most = spans.Max(s => Overlapping(s.Start));
        Assert.True(most == 2, $"at most {most} build(s) ran at once; expected the lane's concurrency, 2: {string.Join(", ", spans)}");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => worker);
    }

    /// <summary>The daemon setting that leaves builds to <c>flywheel worker</c> processes (the embedded default runs one in-process worker per lane).</summary>
    private static readonly KeyValuePair<string, string>[] NoInProcessWorkers = [KeyValuePair.Create("FLYWHEEL_BUILDS__WORKERS", "0")];

    /// <summary>The Nix environment plus <paramref name="extra"/> for a daemon process.</summary>
    private Dictionary<string, string> DaemonEnvironment(IEnumerable<KeyValuePair<string, string>> extra) =>
        _nix.Environment.Where(e => e.Value is not null).Select(e => KeyValuePair.Create(e.Key, e.Value!)).Concat(extra).ToDictionary();

    private static HttpClient DaemonClient(FlywheelProcess daemon)
    {
        var http = new HttpClient { BaseAddress = daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", daemon.AdminToken);
        return http;
    }

    private async Task<string> SubmitAsync(HttpClient http, string attribute, string? lane = null)
    {
        var response = await http.PostAsJsonAsync("_api/v1/builds", new { installable = _file + "#" + attribute, cache = "main", lane });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>A <c>flywheel worker</c> process on the daemon's data folder (its SQLite index); cancelling the token kills it and its children.</summary>
    private Task<ProcessResult> StartWorker(FlywheelProcess daemon, string lane, IReadOnlyDictionary<string, string> extra, CancellationToken cancellationToken)
    {
        var environment = _nix.Environment.ToDictionary(e => e.Key, e => e.Value);
        foreach (var (key, value) in extra)
        {
            environment[key] = value;
        }

        return TestProcess.RunAsync("dotnet",
            [FlywheelProcess.FlywheelDll, "worker", "--lane", lane, "--server", daemon.BaseAddress.ToString(), "--token", daemon.AdminToken, "--data", daemon.DataDirectory],
            environment, cancellationToken: cancellationToken);
    }

    private static async Task<(string? Status, int Attempt)> StatusAsync(HttpClient http, string id)
    {
        var build = await http.GetFromJsonAsync<JsonElement>($"_api/v1/builds/{id}");
        return (build.GetProperty("status").GetString(), build.GetProperty("attempt").GetInt32());
    }

    private static bool BuildFinished(JsonElement build) => build.GetProperty("status").GetString() is "succeeded" or "failed" or "lost";

    private static async Task<JsonElement> WaitForAsync(HttpClient http, string id, Func<JsonElement, bool> done, CancellationToken cancellationToken)
    {
        JsonElement build = default;
        while (!cancellationToken.IsCancellationRequested)
        {
            build = await http.GetFromJsonAsync<JsonElement>($"_api/v1/builds/{id}", CancellationToken.None);
            if (done(build))
            {
                break;
            }

            await Task.Delay(250, CancellationToken.None);
        }

        return build;
    }

    private Task<JsonElement> BuildAsync(string attribute) => BuildAsync(_daemon, _http, _file + "#" + attribute);

    /// <summary>Submits a build of <paramref name="installable"/> to main and waits (at most 4 minutes) until it is final.</summary>
    internal static async Task<JsonElement> BuildAsync(FlywheelProcess daemon, HttpClient http, string installable)
    {
        var response = await http.PostAsJsonAsync("_api/v1/builds", new { installable, cache = "main" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var build = await WaitForAsync(http, id, BuildFinished, deadline.Token);
        return BuildFinished(build) ? build : throw new TimeoutException($"build {id} did not finish; daemon output:\n{daemon.Output}");
    }
}
