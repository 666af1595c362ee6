using System.Text.Json;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.IntegrationTests.Promotion;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Auth;

/// <summary>
/// A CI job with no stored secret, end to end with the real executable, real Nix and real Bazel: an admin trusts an
/// OIDC issuer (one on loopback, shaped like GitHub Actions') for the cache; the job runs <c>flywheel login
/// --oidc-token-file</c> with its ID token; Nix pushes with the netrc it wrote and substitutes with the nix.conf it
/// wrote; Bazel builds with the bazelrc it wrote and hits the cache after a clean; a promotion made with the token
/// records the verified repository and commit in its provenance, and one whose --revision differs is rejected.
/// </summary>
public sealed class OidcLoginRealNixBazelTests : IAsyncLifetime
{
    private const string Commit = "89abcdef0123456789abcdef0123456789abcdef";
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private readonly BazelEnvironment _bazel = BazelEnvironment.Require();
    private TestOidcIssuer _issuer = null!;
    private readonly DockerRegistry _registry = new();
    private FlywheelProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        _issuer = await TestOidcIssuer.StartAsync();
        await _registry.InitializeAsync();
        _daemon = await FlywheelProcess.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _registry.DisposeAsync();
        await _issuer.DisposeAsync();
        await _bazel.DisposeAsync();
        await _nix.DisposeAsync();
    }

    [Fact]
    public async Task A_ci_job_logs_in_with_its_id_token_and_nix_bazel_and_a_verified_promotion_use_what_login_wrote()
    {
        var server = _daemon.BaseAddress.ToString();
        var trusted = (await FlywheelProcess.CliAsync(
            "cache", "trust", "add", "main", "--issuer", _issuer.Issuer, "--audience", "flywheel",
            "--claim", "repository=tinyland-inc/*", "--claim", "ref=refs/heads/main", "--scope", "pull,push,promote", "--ttl", "30m",
            "--server", server, "--token", _daemon.AdminToken)).EnsureSuccess();
        Assert.Contains("claims repository=tinyland-inc/* ref=refs/heads/main", trusted.StandardOutput, StringComparison.Ordinal);
        var listed = (await FlywheelProcess.CliAsync("cache", "trust", "list", "main", "--server", server, "--token", _daemon.AdminToken)).EnsureSuccess();
        Assert.Contains(_issuer.Issuer, listed.StandardOutput, StringComparison.Ordinal);

        // 1. flywheel login, as the job runs it.
        var dir = Path.Combine(_nix.Root, "ci");
        Directory.CreateDirectory(dir);
        var idTokenFile = Path.Combine(dir, "id-token");
        await File.WriteAllTextAsync(idTokenFile, _issuer.Token(claims: TestOidcIssuer.GitHubClaims(sha: Commit)));
        var (netrc, nixConf, bazelrc, envFile) = (Path.Combine(dir, "netrc"), Path.Combine(dir, "nix.conf"), Path.Combine(dir, "bazelrc"), Path.Combine(dir, "env"));
        var login = (await FlywheelProcess.CliAsync(
            "login", "--server", server, "--cache", "main", "--oidc-token-file", idTokenFile,
            "--netrc", netrc, "--nix-conf", nixConf, "--bazelrc", bazelrc, "--env-file", envFile)).EnsureSuccess();
        var token = File.ReadAllLines(envFile).Single(l => l.StartsWith("FLYWHEEL_TOKEN=", StringComparison.Ordinal))["FLYWHEEL_TOKEN=".Length..];
        Assert.StartsWith("fw1_", token, StringComparison.Ordinal);
        Assert.DoesNotContain(token, login.StandardOutput + login.StandardError, StringComparison.Ordinal);
        Assert.Contains($"wrote {bazelrc}", login.StandardOutput, StringComparison.Ordinal);
        Assert.False(OperatingSystem.IsWindows(), "real Nix and Bazel run on Linux");
        foreach (var file in new[] { netrc, nixConf, bazelrc })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(file));
        }

        Assert.Contains($"trusted-public-keys = {_daemon.PublicKey}", await File.ReadAllTextAsync(nixConf), StringComparison.Ordinal);

        // 2. Real Nix pushes with the netrc, then substitutes with the nix.conf (and nothing else).
        var nonce = _nix.NewNonce();
        var built = await _nix.BuildExpressionAsync("oidc", PromotionRealNixTests.Expression(nonce), "image", "tool");
        var (image, tool) = (built[0], built[1]);
        await _nix.CopyToAsync(new Uri(_daemon.BaseAddress, "main") + "?compression=zstd", [image, tool], netrc);
        (await _nix.DeletePathsAsync([tool])).EnsureSuccess();
        Assert.False(await _nix.IsValidAsync(tool));
        var environment = new Dictionary<string, string?>(_nix.Environment) { ["NIX_USER_CONF_FILES"] = nixConf };
        (await TestProcess.RunAsync("nix-store", ["--realise", tool], environment, null, null, _nix.Root)).EnsureSuccess();
        Assert.True(await _nix.IsValidAsync(tool));

        // 3. Real Bazel builds with the bazelrc, and after a clean every action comes from the cache.
        _bazel.WriteWorkspace("oidc");
        var cold = (await BuildWithRcAsync(bazelrc)).EnsureSuccess();
        Assert.Equal(0, cold.RemoteCacheHits);
        await _bazel.CleanAsync();
        var warm = (await BuildWithRcAsync(bazelrc)).EnsureSuccess();
        Assert.Equal(BazelEnvironment.WorkspaceActions, warm.RemoteCacheHits);

        // 4. A promotion with the minted token: its provenance carries the verified source.
        var policy = Path.Combine(dir, "policy.yaml");
        await File.WriteAllTextAsync(policy, "trustCacheKey: true\nrequireVerifiedSource: true\nallow: [\"packages.*.image\"]\n");
        var promoted = await PromoteAsync(envFile, policy, image, Commit, "v1");
        Assert.True(promoted.ExitCode == 0, promoted.ToString());
        Assert.Contains("pass verified-source: tinyland-inc/app at " + Commit, promoted.StandardError, StringComparison.Ordinal);
        using (var record = JsonDocument.Parse(promoted.StandardOutput))
        {
            var verified = record.RootElement.GetProperty("provenance").GetProperty("predicate").GetProperty("buildDefinition")
                .GetProperty("internalParameters").GetProperty("verifiedIdentity");
            Assert.Equal("tinyland-inc/app", verified.GetProperty("repository").GetString());
            Assert.Equal(Commit, verified.GetProperty("commit").GetString());
            Assert.Equal(_issuer.Issuer, verified.GetProperty("issuer").GetString());
            Assert.Equal("refs/heads/main", verified.GetProperty("ref").GetString());
        }

        // 5. The same job claiming another revision is rejected, with the reason.
        var mismatched = await PromoteAsync(envFile, policy, image, "feedfacefeedfacefeedfacefeedfacefeedface", "v2");
        Assert.True(mismatched.ExitCode == 1, mismatched.ToString());
        Assert.Contains("FAIL verified-source: --revision 'feedfacefeedfacefeedfacefeedfacefeedface' is not the verified commit " + Commit, mismatched.StandardError, StringComparison.Ordinal);
    }

    private async Task<BazelBuildResult> BuildWithRcAsync(string bazelrc) =>
        BazelBuildResult.From(await TestProcess.RunAsync(
            _bazel.Bazel, [.. _bazel.StartupOptions, "--bazelrc=" + bazelrc, "build", .. BazelEnvironment.DefaultBuildOptions, "//..."],
            _bazel.Environment, null, null, _bazel.Workspace));

    /// <summary><c>flywheel promote</c> with the server and token from the env file login appended to (as a later CI step sees them).</summary>
    private Task<ProcessResult> PromoteAsync(string envFile, string policy, string storePath, string revision, string tag)
    {
        var environment = File.ReadAllLines(envFile).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        environment["REGISTRY_AUTH_FILE"] = Path.Combine(_nix.Root, "no-registry-auth.json");
        return FlywheelProcess.CliAsync(environment,
            ["promote", "--cache", "main", "--policy", policy, "--source", "https://github.com/tinyland-inc/app", "--revision", revision,
                "--attr", "packages.x86_64-linux.image", "--to", $"oci://{_registry.Host}/app:{tag}", "--json", storePath]);
    }
}
