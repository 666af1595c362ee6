using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server;

/// <summary>The cache settings and pins API: retention and quota, with clear 400s for bad values; admin scope on the cache.</summary>
public sealed class CacheSettingsApiTests : IClassFixture<DaemonFixture>
{
    private const string PathHash = "0c5z0pwpbkxlpzd8b9a6xhfkzqvmmxkv";
    private readonly DaemonFixture _daemon;

    public CacheSettingsApiTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task Retention_and_quota_are_set_shown_and_removed()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = "settings-a", retention = "30d", quota = "2GiB" }))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
            var created = await create.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("30d", created.GetProperty("retention").GetString());
            Assert.Equal("2GiB", created.GetProperty("quota").GetString());
            Assert.Equal(2L << 30, created.GetProperty("quotaBytes").GetInt64());
        }

        using (var update = await admin.PatchAsJsonAsync("/_api/v1/caches/settings-a", new { quota = "off", priority = 10 }))
        {
            Assert.Equal(HttpStatusCode.OK, update.StatusCode);
            var updated = await update.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(JsonValueKind.Null, updated.GetProperty("quota").ValueKind);
            Assert.Equal("30d", updated.GetProperty("retention").GetString()); // untouched
            Assert.Equal(10, updated.GetProperty("priority").GetInt32());
        }

        var shown = await admin.GetFromJsonAsync<JsonElement>("/_api/v1/caches/settings-a");
        Assert.Equal(0, shown.GetProperty("usage").GetProperty("narInfos").GetInt64());
        Assert.Equal(10, shown.GetProperty("priority").GetInt32());
    }

    [Theory]
    [InlineData("{\"retention\":\"10m\"}", "too short")]
    [InlineData("{\"retention\":\"forever\"}", "not a duration")]
    [InlineData("{\"quota\":\"lots\"}", "not a size")]
    [InlineData("{\"quota\":\"-5\"}", "not a size")]
    [InlineData("{\"priority\":-1}", "out of range")]
    public async Task Bad_settings_are_400_and_change_nothing(string body, string message)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (await admin.PostAsJsonAsync("/_api/v1/caches", new { name = "settings-b", retention = "7d" }))
        {
        }

        using var response = await admin.PatchAsync("/_api/v1/caches/settings-b", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var shown = await admin.GetFromJsonAsync<JsonElement>("/_api/v1/caches/settings-b");
        Assert.Equal("7d", shown.GetProperty("retention").GetString());
        Assert.Equal(40, shown.GetProperty("priority").GetInt32());
    }

    [Fact]
    public async Task Changing_settings_or_pins_needs_admin_on_the_cache()
    {
        var push = await CreateTokenAsync("main", "pull,push");
        using var pusher = _daemon.CreateClient(push);
        using (var update = await pusher.PatchAsJsonAsync("/_api/v1/caches/main", new { retention = "30d" }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, update.StatusCode);
        }

        using (var pin = await pusher.PostAsJsonAsync("/_api/v1/caches/main/pins", new { storePath = PathHash }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, pin.StatusCode);
        }

        using var anonymous = _daemon.CreateClient();
        using var unknown = await anonymous.PatchAsJsonAsync("/_api/v1/caches/nowhere", new { retention = "30d" });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var anonymousOnMain = await anonymous.PatchAsJsonAsync("/_api/v1/caches/main", new { retention = "30d" });
        Assert.Equal(HttpStatusCode.Unauthorized, anonymousOnMain.StatusCode);
    }

    [Fact]
    public async Task Pins_accept_a_store_path_a_base_name_or_a_hash_and_refuse_anything_else()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var pin = await admin.PostAsJsonAsync("/_api/v1/caches/main/pins", new { storePath = $"/nix/store/{PathHash}-hello-2.12", reason = "release 1.0" }))
        {
            Assert.Equal(HttpStatusCode.Created, pin.StatusCode);
        }

        var pins = await admin.GetFromJsonAsync<JsonElement>("/_api/v1/caches/main/pins");
        Assert.Contains(pins.EnumerateArray(), p => p.GetProperty("storePathHash").GetString() == PathHash && p.GetProperty("reason").GetString() == "release 1.0");

        foreach (var bad in new[] { "/etc/passwd", "not-a-path", "/nix/store/short-name", "" })
        {
            using var refused = await admin.PostAsJsonAsync("/_api/v1/caches/main/pins", new { storePath = bad });
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        using (var unpin = await admin.DeleteAsync($"/_api/v1/caches/main/pins/{PathHash}-hello-2.12"))
        {
            Assert.Equal(HttpStatusCode.NoContent, unpin.StatusCode);
        }

        using var again = await admin.DeleteAsync($"/_api/v1/caches/main/pins/{PathHash}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    private async Task<string> CreateTokenAsync(string cache, string scopes)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache, scopes });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
    }
}
