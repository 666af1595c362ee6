using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server.Oidc;

/// <summary><c>/_api/v1/caches/{name}/trust</c>: admin on the cache adds, lists and removes policies; bad input is a 400 that names it; others are told the cache does not exist.</summary>
public sealed class TrustPolicyApiTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public TrustPolicyApiTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task An_admin_adds_lists_and_removes_a_policy()
    {
        var cache = await NewCacheAsync();
        using var admin = _daemon.CreateClient(_daemon.AdminToken);

        using var added = await admin.PostAsJsonAsync($"/_api/v1/caches/{cache}/trust", new
        {
            issuer = "https://token.actions.githubusercontent.com/",
            audience = "flywheel",
            claims = new[] { "repository=tinyland-inc/*", "ref=refs/heads/main" },
            scopes = "pull,push",
            ttl = "2h",
        });

        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        using var view = JsonDocument.Parse(await added.Content.ReadAsStringAsync());
        var id = view.RootElement.GetProperty("id").GetString()!;
        Assert.Equal("https://token.actions.githubusercontent.com", view.RootElement.GetProperty("issuer").GetString());
        Assert.Equal("2h", view.RootElement.GetProperty("ttl").GetString());
        var listed = await admin.GetStringAsync($"/_api/v1/caches/{cache}/trust");
        Assert.Contains(id, listed, StringComparison.Ordinal);
        Assert.Contains("repository=tinyland-inc/*", listed, StringComparison.Ordinal);

        using (var removed = await admin.DeleteAsync($"/_api/v1/caches/{cache}/trust/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }

        using (var again = await admin.DeleteAsync($"/_api/v1/caches/{cache}/trust/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        }

        Assert.Equal("[]", await admin.GetStringAsync($"/_api/v1/caches/{cache}/trust"));
    }

    [Theory]
    [InlineData("http://token.example.org", "flywheel", "repository=o/*", "pull", "must be https://")]
    [InlineData("https://issuer.example/?x=1", "flywheel", "repository=o/*", "pull", "without query")]
    [InlineData("https://issuer.example", "", "repository=o/*", "pull", "needs an audience")]
    [InlineData("https://issuer.example", "flywheel", "repository", "pull", "is not NAME=GLOB")]
    [InlineData("https://issuer.example", "flywheel", "repository=o/*", "pull,admin", "pull, push and promote only")]
    public async Task Bad_input_is_a_400_naming_what_is_wrong(string issuer, string audience, string claim, string scopes, string reason)
    {
        var cache = await NewCacheAsync();
        using var admin = _daemon.CreateClient(_daemon.AdminToken);

        using var response = await admin.PostAsJsonAsync($"/_api/v1/caches/{cache}/trust", new { issuer, audience, claims = new[] { claim }, scopes });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, OidcExchangeTests.Detail(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Loopback_http_issuers_are_accepted_for_local_set_ups()
    {
        var cache = await NewCacheAsync();
        using var admin = _daemon.CreateClient(_daemon.AdminToken);

        using var response = await admin.PostAsJsonAsync($"/_api/v1/caches/{cache}/trust", new { issuer = "http://127.0.0.1:8080", audience = "flywheel", scopes = "pull" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task A_token_that_may_not_administer_the_cache_learns_nothing_about_it()
    {
        var cache = await NewCacheAsync();
        var other = await _daemon.CreateTokenAsync("someone-else", "admin");
        var puller = await _daemon.CreateTokenAsync(cache, "pull,push");
        using var stranger = _daemon.CreateClient(other);
        using var pusher = _daemon.CreateClient(puller);

        using var hidden = await stranger.GetAsync($"/_api/v1/caches/{cache}/trust");
        using var missing = await stranger.GetAsync("/_api/v1/caches/no-such-cache-at-all/trust");
        using var forbidden = await pusher.PostAsJsonAsync($"/_api/v1/caches/{cache}/trust", new { issuer = "https://issuer.example", audience = "a", scopes = "pull" });

        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
        Assert.Equal(OidcExchangeTests.Detail(await missing.Content.ReadAsStringAsync()).Replace("no-such-cache-at-all", cache, StringComparison.Ordinal), OidcExchangeTests.Detail(await hidden.Content.ReadAsStringAsync()));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }

    private async Task<string> NewCacheAsync()
    {
        var cache = "trust-" + Guid.NewGuid().ToString("N")[..10];
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var created = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = cache });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return cache;
    }
}
