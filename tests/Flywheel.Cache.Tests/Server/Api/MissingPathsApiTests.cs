using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server.Api;

/// <summary>
/// <c>POST /_api/v1/caches/{name}/missing</c>, the one question <c>flywheel push</c> asks for a closure: which of these
/// store path hashes has the cache no narinfo for. Push on the cache; every hash validated; only the cache's own
/// narinfos count. (Discovery and body limits: <see cref="DiscoveryTests"/> and <see cref="ApiBodyLimitTests"/> list the route.)
/// </summary>
public sealed class MissingPathsApiTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public MissingPathsApiTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task Lists_the_hashes_without_a_narinfo_in_the_order_asked_each_once()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        var stored = NarUpload.Create("missing-present", "present");
        await stored.PushAsync(admin);
        var a = NarUpload.Create("missing-a", "a").StorePathHash;
        var b = NarUpload.Create("missing-b", "b").StorePathHash;
        using var pusher = _daemon.CreateClient(await _daemon.CreateTokenAsync("main", "push"));

        var missing = await MissingAsync(pusher, "main", [b, stored.StorePathHash, a, b]);

        Assert.Equal([b, a], missing);
        Assert.Empty(await MissingAsync(pusher, "main", []));
    }

    [Fact]
    public async Task Another_caches_narinfos_do_not_count()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = "missing-other" }))
        {
            Assert.True(create.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
        }

        var upload = NarUpload.Create("missing-elsewhere", "elsewhere");
        await upload.PushAsync(admin, "missing-other");

        Assert.Empty(await MissingAsync(admin, "missing-other", [upload.StorePathHash]));
        Assert.Equal([upload.StorePathHash], await MissingAsync(admin, "main", [upload.StorePathHash]));
    }

    [Theory]
    [InlineData("0c6kzph7l0dcbqmll3b5dg4ij0ifq0s")] // 31 characters
    [InlineData("0c6kzph7l0dcbqmll3b5dg4ij0ifq0se")] // 'e' is not nix-base32
    [InlineData("../../../../etc/passwd0000000000")]
    [InlineData("")]
    public async Task A_hash_that_is_not_a_store_path_hash_is_400_naming_its_position(string bad)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsJsonAsync(
            "/_api/v1/caches/main/missing", new { storePathHashes = new[] { "0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw", bad } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("storePathHashes[1]", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"storePathHashes\":\"0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw\"}")]
    [InlineData("[1,2]")]
    public async Task A_body_that_is_not_a_list_of_hashes_is_400(string body)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsync("/_api/v1/caches/main/missing", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Needs_push_on_the_cache()
    {
        var body = new { storePathHashes = new[] { "0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw" } };
        using var anonymous = _daemon.CreateClient();
        using (var response = await anonymous.PostAsJsonAsync("/_api/v1/caches/main/missing", body))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode); // main is public: it exists, the scope is missing
        }

        using var reader = _daemon.CreateClient(await _daemon.CreateTokenAsync("main", "pull"));
        using (var response = await reader.PostAsJsonAsync("/_api/v1/caches/main/missing", body))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }

    [Fact]
    public async Task Ten_thousand_hashes_are_answered_in_one_request()
    {
        var hashes = Enumerable.Range(0, 10_000).Select(_ => NarUpload.Create("x", "x").StorePathHash).ToArray();
        using var admin = _daemon.CreateClient(_daemon.AdminToken);

        Assert.Equal(hashes, await MissingAsync(admin, "main", hashes));
    }

    private static async Task<string[]> MissingAsync(HttpClient client, string cache, string[] hashes)
    {
        using var response = await client.PostAsJsonAsync($"/_api/v1/caches/{cache}/missing", new { storePathHashes = hashes });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var doc = JsonDocument.Parse(text);
        return [.. doc.RootElement.GetProperty("missing").EnumerateArray().Select(e => e.GetString()!)];
    }
}
