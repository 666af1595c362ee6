using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Production;

/// <summary>
/// Two gateway processes on one PostgreSQL and one S3 bucket (s3rver): what one stores the other serves, the
/// first start bootstraps once, concurrent uploads of one blob leave one intact blob.
/// </summary>
public sealed class SharedBackendTests : IClassFixture<ProductionBackend>, IAsyncLifetime
{
    private readonly ProductionBackend _backend;
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private FlywheelProcess _a = null!;
    private FlywheelProcess _b = null!;

    public SharedBackendTests(ProductionBackend backend)
    {
        _backend = backend;
    }

    public async Task InitializeAsync()
    {
        // Both start at once on an empty backend: exactly one bootstraps cache main and the admin token.
        var a = _backend.StartGatewayAsync();
        var b = _backend.StartGatewayAsync();
        (_a, _b) = (await a, await b);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _nix.DisposeAsync();
    }

    private string AdminToken => _backend.AdminToken;

    [Fact]
    public void Gateways_share_the_cache_key_and_one_admin_token()
    {
        Assert.Equal(_a.PublicKey, _b.PublicKey);
        Assert.NotEmpty(_backend.AdminToken); // issued by exactly one gateway: StartGatewayAsync asserts no second one
        Assert.False(_a.AdminToken.Length > 0 && _b.AdminToken.Length > 0);
    }

    [Fact]
    public async Task A_closure_pushed_through_one_gateway_is_substituted_through_the_other()
    {
        var closure = await _nix.BuildClosureAsync("two-gateways");
        var netrc = _nix.WriteNetrc("127.0.0.1", await CreateTokenAsync("main", "pull,push"));
        await _nix.CopyToAsync(new Uri(_a.BaseAddress, "main") + "?compression=zstd", [closure.Top], netrc);
        await _nix.DeletePathsAsync(closure.Closure);

        await _nix.RealiseAsync([closure.Top], new Uri(_b.BaseAddress, "main").ToString(), _b.PublicKey);
        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
        }
    }

    [Fact]
    public async Task A_cas_blob_written_through_one_gateway_is_read_through_the_other()
    {
        var blob = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var hash = Convert.ToHexStringLower(SHA256.HashData(blob));
        using var a = Client(_a, AdminToken);
        using (var put = await a.PutAsync($"cas/{hash}", new ByteArrayContent(blob)))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        using var b = Client(_b, AdminToken);
        Assert.Equal(blob, await b.GetByteArrayAsync($"cas/{hash}"));
    }

    [Fact]
    public async Task Concurrent_uploads_of_one_blob_through_both_gateways_leave_one_intact_blob()
    {
        var blob = RandomNumberGenerator.GetBytes(40 * 1024 * 1024); // several multipart parts
        var hash = Convert.ToHexStringLower(SHA256.HashData(blob));
        using var a = Client(_a, AdminToken);
        using var b = Client(_b, AdminToken);
        var uploads = new[] { a, b, a, b }.Select(c => c.PutAsync($"cas/{hash}", new ByteArrayContent(blob))).ToArray();
        foreach (var response in await Task.WhenAll(uploads))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            response.Dispose();
        }

        Assert.Equal(hash, Convert.ToHexStringLower(SHA256.HashData(await a.GetByteArrayAsync($"cas/{hash}"))));
        Assert.Equal(hash, Convert.ToHexStringLower(SHA256.HashData(await b.GetByteArrayAsync($"cas/{hash}"))));
    }

    private async Task<string> CreateTokenAsync(string cache, string scopes) =>
        (await FlywheelProcess.CliAsync("token", "create", "--cache", cache, "--scope", scopes, "--server", _b.BaseAddress.ToString(), "--token", AdminToken))
            .EnsureSuccess().StandardOutput.Trim();

    private static HttpClient Client(FlywheelProcess gateway, string token)
    {
        var client = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
