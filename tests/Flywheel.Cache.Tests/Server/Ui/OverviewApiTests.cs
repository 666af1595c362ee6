using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server.Ui;

/// <summary>
/// <c>GET /_api/v1/overview</c>, the status page's Overview: anonymous callers see public caches only (a private one
/// is left out as if it did not exist), a token sees what it may read, narinfo lookups and uploads are counted per
/// cache, and upstream health (with the last failure) is shown only to a token with admin on the cache.
/// </summary>
public sealed class OverviewApiTests : IClassFixture<DaemonFixture>, IAsyncLifetime
{
    private const string Private = "overview-private";
    private const string Hash = "0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw";
    private readonly DaemonFixture _daemon;
    private string _pullToken = "";

    public OverviewApiTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    public async Task InitializeAsync()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = Private, @public = false, quota = "1GiB" }))
        {
            Assert.True(create.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
        }

        _pullToken = await _daemon.CreateTokenAsync(Private, "pull");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Anonymous_callers_see_public_caches_and_not_a_private_one()
    {
        using var anonymous = _daemon.CreateClient();
        var overview = await anonymous.GetFromJsonAsync<JsonElement>("/_api/v1/overview");
        Assert.False(overview.GetProperty("authenticated").GetBoolean());
        var names = Names(overview);
        Assert.Contains("main", names);
        Assert.DoesNotContain(Private, names);
        Assert.DoesNotContain(Private, overview.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, Cache(overview, "main").GetProperty("upstreams").ValueKind);
    }

    [Fact]
    public async Task A_token_sees_the_private_cache_it_may_read_with_its_quota()
    {
        using var client = _daemon.CreateClient(_pullToken);
        var overview = await client.GetFromJsonAsync<JsonElement>("/_api/v1/overview");
        var cache = Cache(overview, Private);
        Assert.False(cache.GetProperty("public").GetBoolean());
        Assert.Equal(1L << 30, cache.GetProperty("quotaBytes").GetInt64());
        Assert.Equal(0, cache.GetProperty("usage").GetProperty("narInfos").GetInt64());
        Assert.Equal(JsonValueKind.Null, cache.GetProperty("upstreams").ValueKind); // pull only: no upstreams
    }

    [Fact]
    public async Task A_dead_token_is_401()
    {
        using var client = _daemon.CreateClient("not-a-token");
        using var response = await client.GetAsync("/_api/v1/overview");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Narinfo_lookups_are_counted_per_cache_in_the_last_hour_and_day()
    {
        using var client = _daemon.CreateClient(_pullToken);
        var before = Cache(await client.GetFromJsonAsync<JsonElement>("/_api/v1/overview"), Private);
        using (var miss = await client.GetAsync($"/{Private}/{Hash}.narinfo"))
        {
            Assert.Equal(HttpStatusCode.NotFound, miss.StatusCode);
        }

        using (var head = new HttpRequestMessage(HttpMethod.Head, $"/{Private}/{Hash}.narinfo"))
        using (var miss = await client.SendAsync(head))
        {
            Assert.Equal(HttpStatusCode.NotFound, miss.StatusCode);
        }

        var after = Cache(await client.GetFromJsonAsync<JsonElement>("/_api/v1/overview"), Private);
        foreach (var window in new[] { "lastHour", "lastDay" })
        {
            Assert.Equal(Total(before, window, "totalRequests") + 2, Total(after, window, "totalRequests"));
            Assert.Equal(Total(before, window, "totalHits"), Total(after, window, "totalHits"));
            Assert.Equal(0.0, after.GetProperty(window).GetProperty("hitRatio").GetDouble());
        }

        var hour = after.GetProperty("lastHour");
        Assert.Equal(60, hour.GetProperty("requests").GetArrayLength());
        Assert.Equal(60, hour.GetProperty("bucketSeconds").GetInt32());
        Assert.True(hour.GetProperty("requests")[59].GetInt64() >= 2 || hour.GetProperty("requests")[58].GetInt64() >= 1);
        Assert.Equal(24, after.GetProperty("lastDay").GetProperty("requests").GetArrayLength());
    }

    [Fact]
    public async Task Admins_see_each_upstream_with_its_circuit_and_last_failure()
    {
        const string cacheName = "overview-upstreams";
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = cacheName, @public = true }))
        {
            Assert.True(create.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
        }

        // nothing listens on port 9 of loopback: every request to this upstream fails
        var key = "upstream-1:" + Convert.ToBase64String(new byte[32]);
        using (var add = await admin.PostAsJsonAsync($"/_api/v1/caches/{cacheName}/upstreams", new { url = "http://127.0.0.1:9/", trustedKeys = new[] { key } }))
        {
            Assert.True(add.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await add.Content.ReadAsStringAsync());
        }

        using (var lookup = await admin.GetAsync($"/{cacheName}/{Hash}.narinfo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, lookup.StatusCode);
        }

        var upstream = Assert.Single(Cache(await admin.GetFromJsonAsync<JsonElement>("/_api/v1/overview"), cacheName).GetProperty("upstreams").EnumerateArray());
        Assert.Equal("http://127.0.0.1:9", upstream.GetProperty("url").GetString()); // as the catalog normalizes it
        Assert.Equal("closed", upstream.GetProperty("circuit").GetString());
        Assert.Contains("127.0.0.1:9", upstream.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.String, upstream.GetProperty("lastErrorAt").ValueKind);

        // the same public cache without admin: no upstreams (their URLs are an admin's business, as on /upstreams)
        using var anonymous = _daemon.CreateClient();
        Assert.Equal(JsonValueKind.Null, Cache(await anonymous.GetFromJsonAsync<JsonElement>("/_api/v1/overview"), cacheName).GetProperty("upstreams").ValueKind);
    }

    private static List<string> Names(JsonElement overview) =>
        overview.GetProperty("caches").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToList();

    private static JsonElement Cache(JsonElement overview, string name) =>
        overview.GetProperty("caches").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static long Total(JsonElement cache, string window, string field) => cache.GetProperty(window).GetProperty(field).GetInt64();
}
