using System.Text.Json;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;
using static Flywheel.Cache.Tests.Promotion.PromotionClient;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// <c>flywheel promote</c> (the real executable) against a daemon and a real registry: each exit code (0 published or
/// would publish, 1 rejected or a usage error, 2 publishing failed), the readable decision and the <c>--json</c> record.
/// </summary>
public sealed class PromoteCommandTests : IClassFixture<DaemonFixture>, IClassFixture<DockerRegistry>, IDisposable
{
    private readonly DaemonFixture _daemon;
    private readonly DockerRegistry _registry;
    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-promote-cli-").FullName;

    public PromoteCommandTests(DaemonFixture daemon, DockerRegistry registry)
    {
        _daemon = daemon;
        _registry = registry;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private async Task<(string Token, NarUpload Upload)> PushImageAsync(string contents)
    {
        var admin = _daemon.CreateClient(_daemon.AdminToken);
        var token = await CreatePromoteTokenAsync(admin);
        var (nar, _, _) = OciLayoutBuilder.Build(contents);
        var upload = NarUpload.FromNar("hello-image", nar, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-image.drv");
        await upload.PushAsync(_daemon.CreateClient(token));
        return (token, upload);
    }

    private string PolicyFile(string text)
    {
        var path = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private List<string> Args(string token, string policy, string target, params string[] rest) =>
    [
        "promote", "--server", _daemon.BaseAddress.ToString(), "--token", token, "--cache", "main", "--policy", policy,
        "--source", "https://github.com/o/r", "--revision", "0123456789abcdef", "--attr", "packages.x86_64-linux.image", "--to", target, .. rest,
    ];

    private const string TrustingPolicy = "trustCacheKey: true\nallow: [\"hello-image*\"]\n";

    [Fact]
    public async Task A_published_image_exits_0_and_json_prints_the_record_that_get_returns()
    {
        var (token, upload) = await PushImageAsync("published by the cli");

        var cli = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), $"oci://{_registry.Host}/cli:v1", "--json", upload.StorePath));

        Assert.True(cli.ExitCode == 0, cli.ToString());
        var record = JsonSerializer.Deserialize<PromotionView>(cli.StandardOutput, Json)!;
        Assert.Equal(("published", "oci-image"), (record.Status, record.Class));
        var digest = record.Publication!.Value.GetProperty("details").GetProperty("manifestDigest").GetString();
        using var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/cli:v1"));
        Assert.Equal(digest, inspect.RootElement.GetProperty("Digest").GetString());
        Assert.Matches("^[0-9a-f]{64}$", record.ProvenanceSha256);
        Assert.Contains($"promotion {record.Id}: published (class oci-image", cli.StandardError, StringComparison.Ordinal); // readable lines on stderr with --json
        Assert.Contains($"provenance: sha256:{record.ProvenanceSha256}", cli.StandardError, StringComparison.Ordinal);

        using var get = await _daemon.CreateClient(token).GetAsync($"/_api/v1/promotions/{record.Id}");
        var stored = JsonSerializer.Deserialize<PromotionView>(await get.Content.ReadAsStringAsync(), Json)!;
        Assert.Equal((record.Status, record.ProvenanceSha256, record.UpdatedAt), (stored.Status, stored.ProvenanceSha256, stored.UpdatedAt));
    }

    [Fact]
    public async Task A_dry_run_exits_0_and_prints_each_rule_with_its_reason()
    {
        var (token, upload) = await PushImageAsync("dry run by the cli");

        var cli = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), $"oci://{_registry.Host}/cli-dry:v1", "--dry-run", upload.StorePath));

        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Contains(": would-publish (class oci-image, target oci://", cli.StandardOutput, StringComparison.Ordinal);
        foreach (var rule in new[] { "closure-complete", "provenance", "intentional" })
        {
            Assert.Contains($"  pass {rule}: ", cli.StandardOutput, StringComparison.Ordinal);
        }

        Assert.Contains("  pass re-identifiable (not required): ", cli.StandardOutput, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/cli-dry:v1"));
    }

    [Fact]
    public async Task A_rejected_promotion_exits_1_and_names_the_failed_rules()
    {
        var (token, upload) = await PushImageAsync("rejected by the cli");

        var cli = await FlywheelCli.RunAsync(Args(token, PolicyFile("{\"allow\": [\"other-*\"]}"), $"oci://{_registry.Host}/cli-rejected:v1", upload.StorePath));

        Assert.True(cli.ExitCode == 1, cli.ToString());
        Assert.Contains(": rejected (class rejected", cli.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("  FAIL provenance: ", cli.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("  rejected: intentional: ", cli.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("published:", cli.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_publication_exits_2_with_the_error_and_json_still_prints_the_record()
    {
        var (token, upload) = await PushImageAsync("nowhere to go");
        var nobody = $"127.0.0.1:{LoopbackPorts.Next()}";

        var cli = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), $"oci://{nobody}/cli-failed:v1", "--json", upload.StorePath));

        Assert.True(cli.ExitCode == 2, cli.ToString());
        var record = JsonSerializer.Deserialize<PromotionView>(cli.StandardOutput, Json)!;
        Assert.Equal("failed", record.Status);
        Assert.Contains("unreachable", record.Error, StringComparison.Ordinal);
        Assert.Contains("publishing failed: ", cli.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_errors_exit_1_with_a_message_and_nothing_on_stdout()
    {
        var (token, upload) = await PushImageAsync("usage");

        var missingPolicy = await FlywheelCli.RunAsync(["promote", "--server", _daemon.BaseAddress.ToString(), "--token", token, upload.StorePath]);
        Assert.True(missingPolicy.ExitCode == 1, missingPolicy.ToString());
        Assert.Contains("--policy", missingPolicy.StandardError, StringComparison.Ordinal);

        var badPolicy = await FlywheelCli.RunAsync(Args(token, PolicyFile("{\"trustedKeys\": [\"nope\"]}"), $"oci://{_registry.Host}/x:v1", "--json", upload.StorePath));
        Assert.True(badPolicy.ExitCode == 1, badPolicy.ToString());
        Assert.Contains("flywheel promote: trustedKeys: 'nope' is not a Nix public key", badPolicy.StandardError, StringComparison.Ordinal);
        Assert.Equal("", badPolicy.StandardOutput);

        var halfCredentials = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), $"oci://{_registry.Host}/x:v1", "--registry-user", "ci", upload.StorePath));
        Assert.True(halfCredentials.ExitCode == 1, halfCredentials.ToString());
        Assert.Contains("--registry-user and --registry-password go together", halfCredentials.StandardError, StringComparison.Ordinal);

        var nothing = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), "flakehub://o/r@1.0.0"));
        Assert.True(nothing.ExitCode == 1, nothing.ToString());
        Assert.Contains("name the store paths to promote, or a flake source", nothing.StandardError, StringComparison.Ordinal);

        var both = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), "flakehub://o/r@1.0.0", "--flake-source", _folder, "--flake-output", "packages.x86_64-linux.default", upload.StorePath));
        Assert.True(both.ExitCode == 1, both.ToString());
        Assert.Contains("name the store paths to promote, or a flake source", both.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_flake_source_given_as_a_relative_path_reaches_the_daemon_as_an_absolute_one()
    {
        var (token, _) = await PushImageAsync("flake-source");
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(_folder, "no-such-flake"));

        var cli = await FlywheelCli.RunAsync(Args(token, PolicyFile(TrustingPolicy), "flakehub://o/r@1.0.0", "--flake-source", relative, "--flake-output", "packages.x86_64-linux.default"));

        Assert.True(cli.ExitCode == 1, cli.ToString());
        Assert.Contains($"flake source '{Path.Combine(_folder, "no-such-flake")}' is not a directory", cli.StandardError, StringComparison.Ordinal);
    }
}
