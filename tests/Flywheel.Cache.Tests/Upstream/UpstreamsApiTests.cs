using System.Net;
using System.Net.Http.Json;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Cli;
using Flywheel.Cache.Tests.Nix;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Upstream;

/// <summary><c>/_api/v1/caches/{name}/upstreams</c> and both admin clients the CLI uses.</summary>
public sealed class UpstreamsApiTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public UpstreamsApiTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task Upstreams_are_added_listed_in_order_without_their_token_and_removed_through_the_api_client()
    {
        await using var client = new ApiAdminClient(_daemon.BaseAddress, _daemon.AdminToken);
        await client.CreateCacheAsync(new CreateCacheRequest("api-up"), CancellationToken.None);

        var added = await client.AddUpstreamAsync("api-up", new AddUpstreamRequest("https://attic.example/team/", [NixFixtures.PublicKey], 5, "s3cret", "30s"), CancellationToken.None);
        await client.AddUpstreamAsync("api-up", new AddUpstreamRequest("https://cache.nixos.org", [NixFixtures.PublicKey]), CancellationToken.None);

        Assert.Equal(("https://attic.example/team", 5, true, 30.0), (added.Url, added.Priority, added.HasToken, added.TimeoutSeconds));
        Assert.Equal([NixFixtures.PublicKey], added.TrustedKeys);
        var listed = await client.ListUpstreamsAsync("api-up", CancellationToken.None);
        Assert.Equal(["https://attic.example/team", "https://cache.nixos.org"], listed.Select(u => u.Url));
        Assert.Equal([true, false], listed.Select(u => u.HasToken));
        Assert.Equal(50, listed[1].Priority);
        Assert.Equal(10, listed[1].TimeoutSeconds);
        using var http = _daemon.CreateClient(_daemon.AdminToken);
        Assert.DoesNotContain("s3cret", await http.GetStringAsync("/_api/v1/caches/api-up/upstreams"), StringComparison.Ordinal);

        await client.RemoveUpstreamAsync("api-up", "https://attic.example/team", CancellationToken.None);
        Assert.Equal("https://cache.nixos.org", Assert.Single(await client.ListUpstreamsAsync("api-up", CancellationToken.None)).Url);
        var gone = await Assert.ThrowsAsync<CacheException>(() => client.RemoveUpstreamAsync("api-up", "https://attic.example/team", CancellationToken.None));
        Assert.Equal(CacheError.NotFound, gone.Error);
    }

    [Theory]
    [InlineData("ftp://example.org", "not an upstream URL")]
    [InlineData("https://example.org/?x=1", "not an upstream URL")]
    [InlineData("https://user:pw@example.org", "not an upstream URL")]
    public async Task Bad_urls_keys_and_settings_are_refused_with_400(string url, string expected)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        await EnsureCacheAsync(admin, "api-bad");

        await AssertRefusedAsync(admin, new AddUpstreamRequest(url, [NixFixtures.PublicKey]), expected);
        await AssertRefusedAsync(admin, new AddUpstreamRequest("https://ok.example", []), "at least one trusted key");
        await AssertRefusedAsync(admin, new AddUpstreamRequest("https://ok.example", ["no-colon"]), "public key");
        await AssertRefusedAsync(admin, new AddUpstreamRequest("https://ok.example", [NixFixtures.PublicKey], Priority: -1), "priority");
        await AssertRefusedAsync(admin, new AddUpstreamRequest("https://ok.example", [NixFixtures.PublicKey], Timeout: "11m"), "timeout");
        await AssertRefusedAsync(admin, new AddUpstreamRequest("https://ok.example", [NixFixtures.PublicKey], Token: "two words"), "token");
    }

    [Fact]
    public async Task Managing_upstreams_needs_admin_on_the_cache_and_a_url_twice_is_a_conflict()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        await EnsureCacheAsync(admin, "api-auth");
        var request = new AddUpstreamRequest("https://ok.example", [NixFixtures.PublicKey]);
        using var created = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache = "api-auth", scopes = "pull,push" });
        var pusher = (await created.Content.ReadFromJsonAsync<CreatedToken>())!.Secret;

        using var anonymous = _daemon.CreateClient();
        using var pushOnly = _daemon.CreateClient(pusher);
        // api-auth is private: an anonymous caller is told it does not exist
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.PostAsJsonAsync("/_api/v1/caches/api-auth/upstreams", request)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await pushOnly.PostAsJsonAsync("/_api/v1/caches/api-auth/upstreams", request)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await pushOnly.GetAsync("/_api/v1/caches/api-auth/upstreams")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/_api/v1/caches/api-auth/upstreams", request)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PostAsJsonAsync("/_api/v1/caches/api-auth/upstreams", request)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsJsonAsync("/_api/v1/caches/no-such/upstreams", request)).StatusCode);
    }

    [Fact]
    public async Task The_local_admin_client_manages_upstreams_on_a_data_folder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "flywheel-local-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            using (var index = new Cache.Index.Sqlite.SqliteMetadataStore(Path.Combine(folder, "index.sqlite")))
            {
                await index.MigrateAsync(CancellationToken.None);
            }

            await using var client = await LocalAdminClient.OpenAsync(folder, CancellationToken.None);
            await client.CreateCacheAsync(new CreateCacheRequest("local"), CancellationToken.None);
            await client.AddUpstreamAsync("local", new AddUpstreamRequest("http://127.0.0.1:1/x", [NixFixtures.PublicKey], Timeout: "2s"), CancellationToken.None);

            var listed = Assert.Single(await client.ListUpstreamsAsync("local", CancellationToken.None));
            Assert.Equal(("http://127.0.0.1:1/x", 2.0), (listed.Url, listed.TimeoutSeconds));
            await client.RemoveUpstreamAsync("local", "http://127.0.0.1:1/x/", CancellationToken.None);
            Assert.Empty(await client.ListUpstreamsAsync("local", CancellationToken.None));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task EnsureCacheAsync(HttpClient admin, string name)
    {
        using var response = await admin.PostAsJsonAsync("/_api/v1/caches", new CreateCacheRequest(name));
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
    }

    private static async Task AssertRefusedAsync(HttpClient admin, AddUpstreamRequest request, string expected)
    {
        using var response = await admin.PostAsJsonAsync($"/_api/v1/caches/api-bad/upstreams", request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }
}
