using System.Globalization;
using System.Net;
using System.Text.Json;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Nix;

/// <summary>
/// <c>flywheel push</c> with real Nix 2.8 (closures built into the real store by <see cref="NixEnvironment"/>) against
/// the real <c>flywheel</c> executable: references become visible before their referrers, only what the cache lacks
/// is uploaded, a refused path fails the run and a rerun completes it, and what was pushed is substituted back by
/// real Nix with signatures required.
/// </summary>
public sealed class PushCommandRealNixTests : IAsyncLifetime
{
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private readonly List<FlywheelProcess> _daemons = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var daemon in _daemons)
        {
            await daemon.DisposeAsync();
        }

        await _nix.DisposeAsync();
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("xz")]
    [InlineData("none")]
    public async Task A_closure_is_pushed_references_first_and_substituted_back_with_signatures_required(string compression)
    {
        var daemon = await StartAsync();
        var closure = await _nix.BuildClosureAsync("fwpush-" + compression);
        var leafText = await File.ReadAllTextAsync(closure.Leaf);

        var push = (await PushAsync(daemon, daemon.AdminToken, ["--compression", compression, "--json", closure.Top])).EnsureSuccess();

        var summary = JsonDocument.Parse(push.StandardOutput).RootElement;
        Assert.Equal(
            ["cache", "paths", "pushed", "alreadyPresent", "failed", "narBytes", "uploadedBytes", "seconds", "failures"],
            summary.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("main", 4, 4, 0, 0), (summary.GetProperty("cache").GetString(), summary.GetProperty("paths").GetInt32(),
            summary.GetProperty("pushed").GetInt32(), summary.GetProperty("alreadyPresent").GetInt32(), summary.GetProperty("failed").GetInt32()));
        Assert.True(summary.GetProperty("narBytes").GetInt64() > 2 * 1024 * 1024);
        Assert.Empty(summary.GetProperty("failures").EnumerateArray());
        Assert.Contains($"pushed {closure.Large}", push.StandardError, StringComparison.Ordinal); // plain lines: stderr is not a terminal

        // The daemon logs each narinfo once it is stored: no referrer before what it references.
        var stored = await StoredNarInfoOrderAsync(daemon, 4);
        Assert.True(stored.IndexOf(closure.Leaf) < stored.IndexOf(closure.Middle), daemon.Output);
        Assert.True(stored.IndexOf(closure.Middle) < stored.IndexOf(closure.Top), daemon.Output);
        Assert.True(stored.IndexOf(closure.Large) < stored.IndexOf(closure.Top), daemon.Output);
        Assert.Equal(4, stored.Count);

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(new Uri(daemon.BaseAddress, "main").ToString(), [closure.Top], daemon.PublicKey);
        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
        }

        Assert.Equal(leafText, await File.ReadAllTextAsync(closure.Leaf));
    }

    [Fact]
    public async Task Only_what_the_cache_lacks_is_uploaded()
    {
        var daemon = await StartAsync();
        var closure = await _nix.BuildClosureAsync("fwpush-partial");
        var token = await CreateTokenAsync(daemon, "main", "push");

        var first = (await PushAsync(daemon, token, ["--json", "--stdin"], standardInput: closure.Leaf + "\n\n" + closure.Leaf + "\n")).EnsureSuccess();
        Assert.Equal((1, 1, 0), Counts(first));
        Assert.Equal((1, 1), await PutsAsync(daemon));

        var second = (await PushAsync(daemon, token, ["--json", "--verbose", closure.Top])).EnsureSuccess();
        Assert.Equal((4, 3, 1), Counts(second));
        Assert.Contains("phase closure: 4 paths from nix path-info in ", second.StandardError, StringComparison.Ordinal);
        Assert.Contains("phase missing-paths call: 3 missing in ", second.StandardError, StringComparison.Ordinal);
        Assert.Matches(@"phase uploads: 3 paths; read\+compress [0-9.]+ s, NAR PUT [0-9.]+ s, waiting for references [0-9.]+ s, narinfo PUT [0-9.]+ s", second.StandardError);
        Assert.Equal((4, 4), await PutsAsync(daemon));

        var third = (await PushAsync(daemon, token, ["--json", closure.Top, closure.Middle])).EnsureSuccess();
        Assert.Equal((4, 0, 4), Counts(third));
        Assert.Equal((4, 4), await PutsAsync(daemon));
        Assert.Equal(3, await RequestsAsync(daemon, "POST", "/_api/v1/caches/{name}/missing"));
    }

    [Fact]
    public async Task A_refused_path_fails_the_run_after_the_others_and_a_rerun_pushes_only_what_is_missing()
    {
        var data = Path.Combine(Path.GetTempPath(), "flywheel-it-" + Guid.NewGuid().ToString("N"));
        var strict = await StartAsync(data, new Dictionary<string, string> { ["FLYWHEEL_LIMITS__MAXNARBYTES"] = "1048576" });
        var closure = await _nix.BuildClosureAsync("fwpush-resume", largeBytes: 2 * 1024 * 1024);

        var refused = await PushAsync(strict, strict.AdminToken, ["--json", "--compression", "none", closure.Top]);

        Assert.Equal(1, refused.ExitCode);
        var summary = JsonDocument.Parse(refused.StandardOutput).RootElement;
        Assert.Equal((4, 2, 0), Counts(refused));
        var failures = summary.GetProperty("failures").EnumerateArray()
            .ToDictionary(f => f.GetProperty("storePath").GetString()!, f => f.GetProperty("reason").GetString()!);
        Assert.Equal(new[] { closure.Large, closure.Top }.Order(StringComparer.Ordinal), failures.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("413", failures[closure.Large], StringComparison.Ordinal);
        Assert.Contains($"its reference {Path.GetFileName(closure.Large)} was not pushed", failures[closure.Top], StringComparison.Ordinal);
        Assert.Contains($"FAILED {closure.Large}", refused.StandardError, StringComparison.Ordinal);
        using (var http = new HttpClient())
        {
            using var top = await http.GetAsync(new Uri(strict.BaseAddress, $"main/{NixClosure.HashPart(closure.Top)}.narinfo"));
            Assert.Equal(HttpStatusCode.NotFound, top.StatusCode);
        }

        await strict.StopAsync();
        var daemon = await StartAsync(data);
        var rerun = (await PushAsync(daemon, daemon.AdminToken, ["--json", closure.Top])).EnsureSuccess();

        Assert.Equal((4, 2, 2), Counts(rerun));
        Assert.Equal([closure.Large, closure.Top], await StoredNarInfoOrderAsync(daemon, 2));
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(new Uri(daemon.BaseAddress, "main").ToString(), [closure.Top], daemon.PublicKey);
    }

    [Fact]
    public async Task A_wrong_token_is_401_with_a_clear_message_and_stores_nothing()
    {
        var daemon = await StartAsync();
        var closure = await _nix.BuildClosureAsync("fwpush-token");

        var push = await PushAsync(daemon, "fw1_not-a-token", [closure.Leaf]);

        Assert.Equal(1, push.ExitCode);
        Assert.Contains("401", push.StandardError, StringComparison.Ordinal);
        Assert.Contains("the token was refused", push.StandardError, StringComparison.Ordinal);
        Assert.Equal((0, 0), await PutsAsync(daemon));
    }

    [Fact]
    public async Task A_path_that_is_not_in_the_local_store_is_a_clear_error()
    {
        var daemon = await StartAsync();
        var absent = $"/nix/store/{new string('0', 32)}-fw-absent-{_nix.NewNonce()}";

        var push = await PushAsync(daemon, daemon.AdminToken, [absent]);
        var outside = await PushAsync(daemon, daemon.AdminToken, [_nix.TempDir]);

        Assert.Equal(1, push.ExitCode);
        Assert.Contains($"not in the local Nix store (build or substitute it first): {absent}", push.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, outside.ExitCode);
        Assert.Contains("is not a path in the Nix store /nix/store", outside.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, await RequestsAsync(daemon, "POST", "/_api/v1/caches/{name}/missing"));
    }

    private async Task<FlywheelProcess> StartAsync(string? data = null, Dictionary<string, string>? environment = null)
    {
        var daemon = await FlywheelProcess.StartAsync(data, environment ?? new Dictionary<string, string>());
        _daemons.Add(daemon);
        return daemon;
    }

    private Task<ProcessResult> PushAsync(FlywheelProcess daemon, string token, string[] arguments, string? standardInput = null) =>
        TestProcess.RunAsync(
            "dotnet", [FlywheelProcess.FlywheelDll, "push", "--server", daemon.BaseAddress.ToString(), "--token", token, .. arguments],
            _nix.Environment, standardInput, TimeSpan.FromMinutes(3));

    private static async Task<string> CreateTokenAsync(FlywheelProcess daemon, string cache, string scopes) =>
        (await FlywheelProcess.CliAsync("token", "create", "--cache", cache, "--scope", scopes, "--server", daemon.BaseAddress.ToString(), "--token", daemon.AdminToken))
        .EnsureSuccess().StandardOutput.Trim();

    /// <summary>
    /// Store paths in the order the daemon logged "stored narinfo" for them, once <paramref name="count"/> are logged (the
    /// console logger writes on its own thread, shortly after the request).
    /// </summary>
    private static async Task<List<string>> StoredNarInfoOrderAsync(FlywheelProcess daemon, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            List<string> stored = [.. daemon.Output.Split('\n')
                .Select(l => l.Trim())
                .Where(l => l.StartsWith("cache main: stored narinfo ", StringComparison.Ordinal))
                .Select(l => l["cache main: stored narinfo ".Length..].Split(' ')[0])];
            if (stored.Count >= count || DateTime.UtcNow > deadline)
            {
                return stored;
            }

            await Task.Delay(100);
        }
    }

    private static (int Paths, int Pushed, int AlreadyPresent) Counts(ProcessResult push)
    {
        var summary = JsonDocument.Parse(push.StandardOutput).RootElement;
        return (summary.GetProperty("paths").GetInt32(), summary.GetProperty("pushed").GetInt32(), summary.GetProperty("alreadyPresent").GetInt32());
    }

    /// <summary>NAR and narinfo PUTs the daemon answered 2xx (its request counter).</summary>
    private static async Task<(int Nars, int NarInfos)> PutsAsync(FlywheelProcess daemon) =>
        (await RequestsAsync(daemon, "PUT", "/{cache}/nar/{file}"), await RequestsAsync(daemon, "PUT", "/{cache}/{hash}.narinfo"));

    private static async Task<int> RequestsAsync(FlywheelProcess daemon, string method, string route)
    {
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(daemon.BaseAddress, "metrics"));
        return (int)metrics.Split('\n')
            .Where(l => l.StartsWith("flywheel_http_requests_total{", StringComparison.Ordinal)
                && l.Contains($"method=\"{method}\"", StringComparison.Ordinal) && l.Contains($"route=\"{route}\"", StringComparison.Ordinal)
                && l.Contains("status=\"2", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }
}
