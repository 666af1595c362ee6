using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server;

/// <summary>Tokens on the Nix routes and the admin API: 401 without or with a dead token, 403 without the scope.</summary>
public sealed class NixCacheAuthTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public NixCacheAuthTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task Push_without_credentials_is_401_with_a_challenge()
    {
        var upload = NarUpload.Create("anon", "anonymous push");
        using var client = _daemon.CreateClient();
        using var response = await client.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(upload.Nar));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Basic");
        using var get = await client.GetAsync($"/main/nar/{upload.NarFileName}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Push_with_a_pull_only_token_is_403_and_push_token_on_another_cache_too()
    {
        var pullOnly = await CreateTokenAsync("main", "pull");
        var otherCache = await CreateTokenAsync("other-*", "pull,push");
        var upload = NarUpload.Create("forbidden", "forbidden push");
        foreach (var token in new[] { pullOnly, otherCache })
        {
            using var client = _daemon.CreateClient(token);
            using var response = await client.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(upload.Nar));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }

    [Fact]
    public async Task Basic_credentials_carry_the_token_as_password_as_nix_netrc_does()
    {
        var push = await CreateTokenAsync("main", "pull,push");
        var upload = NarUpload.Create("netrc", "pushed with netrc");
        using var client = _daemon.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ci:" + push)));
        await upload.PushAsync(client);
    }

    [Fact]
    public async Task Revoked_and_unknown_tokens_are_401()
    {
        var (id, token) = await CreateTokenWithIdAsync("main", "push");
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var revoke = await admin.DeleteAsync($"/_api/v1/tokens/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var upload = NarUpload.Create("revoked", "revoked push");
        foreach (var t in new[] { token, "fw1_not-a-real-token" })
        {
            using var client = _daemon.CreateClient(t);
            using var response = await client.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(upload.Nar));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
    }

    [Fact]
    public async Task Private_cache_needs_a_pull_token_to_read_and_is_not_found_without()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = "private-team", @public = false, priority = 30 }))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        }

        using var anonymous = _daemon.CreateClient();
        using (var denied = await anonymous.GetAsync("/private-team/nix-cache-info"))
        {
            Assert.Equal(HttpStatusCode.NotFound, denied.StatusCode); // as for a cache that does not exist (DiscoveryTests)
        }

        using var reader = _daemon.CreateClient(await CreateTokenAsync("private-*", "pull"));
        Assert.Contains("Priority: 30", await reader.GetStringAsync("/private-team/nix-cache-info"));

        using var duplicate = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = "private-team" });
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"Bad Name\"}")]
    [InlineData("{\"name\":\"_api\"}")]
    [InlineData("{\"name\":\"../etc\"}")]
    [InlineData("{\"name\":\"cas\"}")]
    [InlineData("{\"name\":\"metrics\"}")]
    public async Task Creating_a_cache_with_a_bad_name_is_400_problem_details(string body)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsync("/_api/v1/caches", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Admin_api_needs_admin_scope()
    {
        using var client = _daemon.CreateClient(await CreateTokenAsync("*", "pull,push"));
        using var response = await client.PostAsJsonAsync("/_api/v1/tokens", new { cache = "*", scopes = "admin" });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        using var anonymous = _daemon.CreateClient();
        using var list = await anonymous.GetAsync("/_api/v1/tokens");
        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
    }

    private async Task<string> CreateTokenAsync(string cache, string scopes) => (await CreateTokenWithIdAsync(cache, scopes)).Secret;

    private async Task<(string Id, string Secret)> CreateTokenWithIdAsync(string cache, string scopes)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache, scopes });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (doc.RootElement.GetProperty("token").GetProperty("id").GetString()!, doc.RootElement.GetProperty("secret").GetString()!);
    }
}
