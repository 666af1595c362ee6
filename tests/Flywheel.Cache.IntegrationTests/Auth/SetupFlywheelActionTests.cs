using System.Net.Http.Headers;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Promotion;
using Microsoft.AspNetCore.Http;
using YamlDotNet.RepresentationModel;

namespace Flywheel.Cache.IntegrationTests.Auth;

/// <summary>
/// <c>.github/actions/setup-flywheel</c> as a GitHub runner runs it: its step's script under bash with the runner's
/// variables (<c>RUNNER_TEMP</c>, <c>GITHUB_ENV</c>, <c>GITHUB_OUTPUT</c>) and GitHub's ID token service
/// (<c>ACTIONS_ID_TOKEN_REQUEST_URL</c>/<c>_TOKEN</c>, a stand-in on loopback handing out tokens of a loopback issuer),
/// against the real executable: later steps get a working token, the nix.conf and the bazelrc.
/// </summary>
public sealed class SetupFlywheelActionTests : IAsyncLifetime
{
    private const string RequestToken = "runner-request-token";
    private TestOidcIssuer _issuer = null!;
    private TestHttpServer _tokenService = null!;
    private FlywheelProcess _daemon = null!;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "flywheel-action-" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _issuer = await TestOidcIssuer.StartAsync();
        _tokenService = await TestHttpServer.StartAsync(async (context, _) =>
        {
            var authorized = context.Request.Headers.Authorization.ToString() == "bearer " + RequestToken;
            if (!authorized || context.Request.Query["audience"] != "flywheel")
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }

            await context.Response.WriteAsJsonAsync(new { count = 1, value = _issuer.Token() });
        });
        _daemon = await FlywheelProcess.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _tokenService.DisposeAsync();
        await _issuer.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task The_action_logs_the_job_in_through_githubs_token_service_and_exports_the_token_and_the_files()
    {
        (await FlywheelProcess.CliAsync(
            "cache", "trust", "add", "main", "--issuer", _issuer.Issuer, "--audience", "flywheel", "--claim", "repository=tinyland-inc/*",
            "--scope", "pull,push", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken)).EnsureSuccess();
        var flywheel = Path.Combine(Directory.CreateDirectory(Path.Combine(_root, "bin")).FullName, "flywheel");
        await File.WriteAllTextAsync(flywheel, $"#!/bin/sh\nexec dotnet '{FlywheelProcess.FlywheelDll}' \"$@\"\n");
        Assert.False(OperatingSystem.IsWindows(), "the action runs on Linux and macOS runners");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(flywheel, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var (githubEnv, githubOutput) = (Path.Combine(_root, "github-env"), Path.Combine(_root, "github-output"));
        await File.WriteAllTextAsync(githubEnv, "");
        await File.WriteAllTextAsync(githubOutput, "");
        var (script, environment) = LoginStep(new Dictionary<string, string>
        {
            ["server"] = _daemon.BaseAddress.ToString(),
            ["bazelrc"] = "true",
            ["flywheel"] = flywheel,
        });
        environment["RUNNER_TEMP"] = _root;
        environment["GITHUB_ENV"] = githubEnv;
        environment["GITHUB_OUTPUT"] = githubOutput;
        environment["ACTIONS_ID_TOKEN_REQUEST_URL"] = new Uri(_tokenService.Address, "token?api-version=2.0").ToString();
        environment["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = RequestToken;

        var run = (await TestProcess.RunAsync(RequiredComponent.Program("bash", "bash"), ["-c", script], environment, null, TimeSpan.FromSeconds(120), _root)).EnsureSuccess();

        var exported = File.ReadAllLines(githubEnv).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var token = exported["FLYWHEEL_TOKEN"];
        Assert.StartsWith("fw1_", token, StringComparison.Ordinal);
        Assert.Equal(_daemon.BaseAddress.ToString().TrimEnd('/'), exported["FLYWHEEL_SERVER"]);
        Assert.Equal(Path.Combine(_root, "flywheel", "nix.conf"), exported["NIX_USER_CONF_FILES"]);
        Assert.Contains($"trusted-public-keys = {_daemon.PublicKey}", await File.ReadAllTextAsync(exported["NIX_USER_CONF_FILES"]), StringComparison.Ordinal);
        Assert.Contains("Authorization=Bearer " + token, await File.ReadAllTextAsync(exported["FLYWHEEL_BAZELRC"]), StringComparison.Ordinal);
        Assert.Contains($"bazelrc={exported["FLYWHEEL_BAZELRC"]}", await File.ReadAllTextAsync(githubOutput), StringComparison.Ordinal);
        Assert.All(run.StandardOutput.Split('\n').Where(l => l.Contains(token, StringComparison.Ordinal)), l => Assert.StartsWith("::add-mask::", l, StringComparison.Ordinal));

        using var http = new HttpClient { BaseAddress = _daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var cache = await http.GetAsync("_api/v1/caches/main");
        Assert.True(cache.IsSuccessStatusCode, $"{(int)cache.StatusCode}");
    }

    /// <summary>The action's one step: its script, and its env with <c>${{ inputs.X }}</c> filled in from <paramref name="inputs"/> or the input's default.</summary>
    private static (string Script, Dictionary<string, string?> Environment) LoginStep(IReadOnlyDictionary<string, string> inputs)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(RepositoryRoot.Folder, ".github", "actions", "setup-flywheel", "action.yml")))
        {
            yaml.Load(reader);
        }

        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var declared = (YamlMappingNode)root["inputs"];
        string Input(string name) => inputs.TryGetValue(name, out var value) ? value
            : ((YamlMappingNode)declared[name]).Children.TryGetValue("default", out var fallback) ? ((YamlScalarNode)fallback).Value!
            : throw new InvalidOperationException($"input {name} is required");
        var step = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)root["runs"])["steps"]).Children.Single();
        var environment = new Dictionary<string, string?>();
        foreach (var (key, value) in ((YamlMappingNode)step["env"]).Children)
        {
            var text = ((YamlScalarNode)value).Value!;
            var match = System.Text.RegularExpressions.Regex.Match(text, @"^\$\{\{ inputs\.([a-z-]+) \}\}$");
            environment[((YamlScalarNode)key).Value!] = match.Success ? Input(match.Groups[1].Value) : text;
        }

        return (((YamlScalarNode)step["run"]).Value!, environment);
    }
}
