using System.Text;
using System.Text.Json;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;
using static Flywheel.Cache.Tests.Promotion.PromotionClient;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// The registry Bearer token flow against a real registry with token auth (Debian's docker-registry,
/// distribution 2.8, trusting an in-test token server's certificate): <c>flywheel promote</c> with the credentials of
/// the containers auth file gets a token for <c>repository:NAME:push,pull</c> and pushes; wrong credentials leave the
/// promotion failed (exit 2) with the refusal in words.
/// </summary>
public sealed class TokenAuthRegistryTests : IClassFixture<DaemonFixture>, IAsyncLifetime
{
    private const string Policy = "trustCacheKey: true\nallow: [\"hello-image*\"]\n";
    private readonly DaemonFixture _daemon;
    private readonly string _folder = Directory.CreateTempSubdirectory("flywheel-token-registry-").FullName;
    private RegistryTokenServer _tokens = null!;
    private DockerRegistry _registry = null!;

    public TokenAuthRegistryTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    public async Task InitializeAsync()
    {
        _tokens = await RegistryTokenServer.StartAsync("ci", "secret", _folder);
        _registry = DockerRegistry.WithConfig(_tokens.RegistryConfig);
        await _registry.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        await _tokens.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<(string Token, NarUpload Upload, string Policy)> PrepareAsync(string contents)
    {
        var token = await CreatePromoteTokenAsync(_daemon.CreateClient(_daemon.AdminToken));
        var upload = NarUpload.FromNar("hello-image", OciLayoutBuilder.Build(contents).Nar, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-image.drv");
        await upload.PushAsync(_daemon.CreateClient(token));
        var policy = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".yaml");
        await File.WriteAllTextAsync(policy, Policy);
        return (token, upload, policy);
    }

    private List<string> Args(string token, string policy, string target, NarUpload upload, params string[] rest) =>
    [
        "promote", "--server", _daemon.BaseAddress.ToString(), "--token", token, "--policy", policy, "--source", "https://github.com/o/r",
        "--revision", "0123abcd", "--attr", "packages.x86_64-linux.image", "--to", target, "--json", .. rest, upload.StorePath,
    ];

    [Fact]
    public async Task Credentials_from_the_auth_file_get_a_push_token_and_the_image_is_pushed()
    {
        var (token, upload, policy) = await PrepareAsync("behind token auth");
        var authFile = Path.Combine(_folder, "auth.json");
        await File.WriteAllTextAsync(authFile, JsonSerializer.Serialize(new { auths = new Dictionary<string, object> { [_registry.Host] = new { auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("ci:secret")) } } }));

        var cli = await FlywheelCli.RunAsync(Args(token, policy, $"oci://{_registry.Host}/team/app:v1", upload), authFile);

        Assert.True(cli.ExitCode == 0, cli + "\n" + string.Join("\n", _tokens.Requests));
        var record = JsonSerializer.Deserialize<PromotionView>(cli.StandardOutput, Json)!;
        Assert.Equal("published", record.Status);
        Assert.Contains(_tokens.Requests, r => r.StartsWith("GET /token?", StringComparison.Ordinal)
            && r.Contains("scope=" + Uri.EscapeDataString("repository:team/app:push,pull"), StringComparison.Ordinal));
        using var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", "--creds", "ci:secret", $"docker://{_registry.Host}/team/app:v1"));
        Assert.Equal(record.Publication!.Value.GetProperty("details").GetProperty("manifestDigest").GetString(), inspect.RootElement.GetProperty("Digest").GetString());
        Assert.DoesNotContain("secret", record.Request!.Value.GetRawText(), StringComparison.Ordinal); // credentials are never recorded

        var anonymous = await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/team/app:v1"));
        Assert.Contains("unauthorized", anonymous.Message, StringComparison.OrdinalIgnoreCase); // the registry does enforce its tokens
    }

    [Fact]
    public async Task Wrong_credentials_fail_the_publication_clearly_with_exit_2()
    {
        var (token, upload, policy) = await PrepareAsync("wrong credentials");

        var cli = await FlywheelCli.RunAsync(Args(token, policy, $"oci://{_registry.Host}/team/denied:v1", upload, "--registry-user", "ci", "--registry-password", "wrong"));

        Assert.True(cli.ExitCode == 2, cli.ToString());
        var record = JsonSerializer.Deserialize<PromotionView>(cli.StandardOutput, Json)!;
        Assert.Equal("failed", record.Status);
        Assert.Contains("refused the credentials for repository:team/denied:push,pull (401)", record.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", cli.StandardError + cli.StandardOutput, StringComparison.Ordinal); // the password is never printed
    }
}
