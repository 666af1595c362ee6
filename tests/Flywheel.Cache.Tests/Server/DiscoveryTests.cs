using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Flywheel.Cache.Index;
using Flywheel.Cache.Tests.Server.BazelGrpc;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// A caller who may not read a cache cannot learn that it exists (Attic's rule): anonymous callers and callers with a
/// token for other caches get, for a private cache, exactly the answer for a cache that does not exist: status,
/// headers and body, on every front door (Nix, Bazel HTTP, API, promotions, builds, gRPC). Dead credentials are 401
/// either way; a caller who may read but not write gets 403 on writes.
/// </summary>
public sealed partial class DiscoveryTests : IClassFixture<DaemonFixture>, IAsyncLifetime
{
    // The same length, so that bodies and Content-Length compare equal once the name is replaced.
    private const string Private = "hidden-one";
    private const string Missing = "absent-one";
    private const string Hash = "0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw";
    private const string Sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private readonly DaemonFixture _daemon;
    private string _otherToken = "";
    private string _pullToken = "";

    public DiscoveryTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    public async Task InitializeAsync()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = Private, @public = false }))
        {
            Assert.True(create.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
        }

        _otherToken = await _daemon.CreateTokenAsync("elsewhere-*", "pull,push,admin,promote");
        _pullToken = await _daemon.CreateTokenAsync(Private, "pull");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static TheoryData<string, string, string?> Requests => new()
    {
        { "GET", "/{c}/nix-cache-info", null },
        { "HEAD", "/{c}/nix-cache-info", null },
        { "PUT", "/{c}/nix-cache-info", "StoreDir: /nix/store\n" },
        { "GET", $"/{{c}}/{Hash}.narinfo", null },
        { "HEAD", $"/{{c}}/{Hash}.narinfo", null },
        { "PUT", $"/{{c}}/{Hash}.narinfo", "StorePath: /nix/store/x\n" },
        { "GET", $"/{{c}}/nar/{Hash}.nar", null },
        { "PUT", $"/{{c}}/nar/{Hash}.nar", "nar" },
        { "GET", $"/{{c}}/log/{Hash}-x.drv", null },
        { "PUT", $"/{{c}}/log/{Hash}-x.drv", "log" },
        { "GET", $"/{{c}}/{Hash}.ls", null },
        { "PUT", $"/{{c}}/{Hash}.ls", "{}" },
        { "GET", $"/{{c}}/ac/{Sha}", null },
        { "PUT", $"/{{c}}/ac/{Sha}", "" },
        { "GET", $"/{{c}}/cas/{Sha}", null },
        { "PUT", $"/{{c}}/cas/{Sha}", "" },
        { "GET", "/_api/v1/caches/{c}", null },
        { "PATCH", "/_api/v1/caches/{c}", "{\"priority\":1}" },
        { "GET", "/_api/v1/caches/{c}/pins", null },
        { "POST", "/_api/v1/caches/{c}/pins", $"{{\"storePath\":\"{Hash}\"}}" },
        { "DELETE", $"/_api/v1/caches/{{c}}/pins/{Hash}", null },
        { "GET", "/_api/v1/caches/{c}/upstreams", null },
        { "POST", "/_api/v1/caches/{c}/missing", $"{{\"storePathHashes\":[\"{Hash}\"]}}" },
        { "POST", "/_api/v1/caches/{c}/upstreams", "{\"url\":\"https://up.example\",\"trustedKeys\":[]}" },
        { "DELETE", "/_api/v1/caches/{c}/upstreams?url=https://up.example", null },
        { "GET", "/_api/v1/promotions?cache={c}", null },
        { "POST", "/_api/v1/promotions", "{\"cache\":\"{c}\",\"storePaths\":[],\"policy\":\"\"}" },
        { "POST", "/_api/v1/builds", "{\"installable\":\"a.nix#x\",\"cache\":\"{c}\"}" },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task Anonymous_callers_get_the_same_answer_for_a_private_cache_as_for_a_missing_one(string method, string path, string? body)
    {
        using var client = _daemon.CreateClient();
        await AssertSameAsync(client, method, path, body);
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task Callers_with_a_token_for_other_caches_get_the_same_answer_for_a_private_cache_as_for_a_missing_one(
        string method, string path, string? body)
    {
        using var client = _daemon.CreateClient(_otherToken);
        var hidden = await AssertSameAsync(client, method, path, body);
        Assert.Equal(404, hidden.Status); // the token is live: every answer is "no such cache"
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task Dead_credentials_are_401_whatever_the_cache(string method, string path, string? body)
    {
        using var client = _daemon.CreateClient("fw1_unknown-token");
        var answer = await AssertSameAsync(client, method, path, body);
        Assert.Equal(401, answer.Status);
    }

    [Fact]
    public async Task A_caller_who_may_read_but_not_write_gets_403_on_writes_and_reads_with_its_token()
    {
        using var reader = _daemon.CreateClient(_pullToken);
        using (var info = await reader.GetAsync($"/{Private}/nix-cache-info"))
        {
            Assert.Equal(HttpStatusCode.OK, info.StatusCode);
        }

        using var put = await reader.PutAsync($"/{Private}/{Hash}.narinfo", new StringContent("StorePath: /nix/store/x\n"));
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        using var patch = await reader.PatchAsync($"/_api/v1/caches/{Private}", JsonContent.Create(new { priority = 1 }));
        Assert.Equal(HttpStatusCode.Forbidden, patch.StatusCode);
    }

    [Fact]
    public async Task Promotions_and_builds_of_a_private_cache_look_like_missing_ones()
    {
        var index = _daemon.Services.GetRequiredService<IMetadataIndex>();
        var cache = await index.GetCacheAsync(Private, CancellationToken.None);
        var now = DateTimeOffset.UtcNow;
        const string promotion = "prm_hidden0000001";
        await index.TryCreatePromotionAsync(
            new PromotionRecord(promotion, cache!.Id, "rejected", "unknown", null, null, null, "{}", "{}", null, null, null, [], now, now), CancellationToken.None);
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var submitted = await admin.PostAsJsonAsync("/_api/v1/builds", new { installable = "a.nix#x", cache = Private });
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        var build = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        using (var visible = await admin.GetAsync($"/_api/v1/promotions/{promotion}"))
        {
            Assert.Equal(HttpStatusCode.OK, visible.StatusCode);
        }

        foreach (var token in new[] { null, _otherToken })
        {
            using var client = _daemon.CreateClient(token);
            var real = await SendAsync(client, "GET", $"/_api/v1/promotions/{promotion}", null);
            var absent = await SendAsync(client, "GET", "/_api/v1/promotions/prm_absent0000001", null);
            Assert.Equal(absent, real with { Body = real.Body.Replace(promotion, "prm_absent0000001", StringComparison.Ordinal) });
            Assert.Equal(404, real.Status);
        }

        var absentBuild = "b" + new string('0', 20);
        using var other = _daemon.CreateClient(_otherToken);
        foreach (var suffix in new[] { "", "/log" })
        {
            var real = await SendAsync(other, "GET", $"/_api/v1/builds/{build}{suffix}", null);
            var absent = await SendAsync(other, "GET", $"/_api/v1/builds/{absentBuild}{suffix}", null);
            Assert.Equal(absent, real with { Body = real.Body.Replace(build, absentBuild, StringComparison.Ordinal) });
            Assert.Equal(404, real.Status);
        }
    }

    [Fact]
    public async Task Lists_of_promotions_and_builds_show_exactly_what_a_get_of_each_would()
    {
        var index = _daemon.Services.GetRequiredService<IMetadataIndex>();
        var hidden = await index.GetCacheAsync(Private, CancellationToken.None);
        var now = DateTimeOffset.UtcNow;
        const string promotion = "prm_listed0000001";
        await index.TryCreatePromotionAsync(
            new PromotionRecord(promotion, hidden!.Id, "rejected", "unknown", null, null, null, "{}", "{}", null, null, null, [], now, now), CancellationToken.None);
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        async Task<string> SubmitAsync(string cache)
        {
            using var submitted = await admin.PostAsJsonAsync("/_api/v1/builds", new { installable = "list.nix#x", cache });
            Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
            return (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        }

        var hiddenBuild = await SubmitAsync(Private);
        var publicBuild = await SubmitAsync("main");
        var promoteOnly = await _daemon.CreateTokenAsync(Private, "promote");

        async Task<(bool Listed, int Get)> PromotionAsync(string? token)
        {
            using var client = _daemon.CreateClient(token);
            var listed = (await client.GetFromJsonAsync<JsonElement>("/_api/v1/promotions?limit=1000")).EnumerateArray().Any(p => p.GetProperty("id").GetString() == promotion);
            using var get = await client.GetAsync($"/_api/v1/promotions/{promotion}");
            return (listed, (int)get.StatusCode);
        }

        async Task<(bool Listed, int Get)> BuildAsync(string token, string build)
        {
            using var client = _daemon.CreateClient(token);
            var listed = (await client.GetFromJsonAsync<JsonElement>("/_api/v1/builds?limit=1000")).EnumerateArray().Any(b => b.GetProperty("id").GetString() == build);
            using var get = await client.GetAsync($"/_api/v1/builds/{build}");
            return (listed, (int)get.StatusCode);
        }

        Assert.Equal((true, 200), await PromotionAsync(_pullToken));
        Assert.Equal((false, 403), await PromotionAsync(promoteOnly)); // may know the cache exists, may not read it
        Assert.Equal((false, 404), await PromotionAsync(_otherToken));
        Assert.Equal((false, 404), await PromotionAsync(null));
        Assert.Equal((true, 200), await BuildAsync(_pullToken, hiddenBuild));
        Assert.Equal((false, 404), await BuildAsync(_otherToken, hiddenBuild));
        Assert.Equal((true, 200), await BuildAsync(_otherToken, publicBuild)); // a public cache's builds, like its paths
    }

    [Fact]
    public async Task Grpc_instances_a_caller_may_not_read_are_not_found_like_missing_ones()
    {
        foreach (var token in new[] { null, _otherToken })
        {
            using var client = new ReapiClient(_daemon.GrpcAddress, token);
            var hidden = await Assert.ThrowsAsync<RpcException>(() => client.CapabilitiesAsync(Private));
            var missing = await Assert.ThrowsAsync<RpcException>(() => client.CapabilitiesAsync(Missing));
            Assert.Equal(StatusCode.NotFound, hidden.StatusCode);
            Assert.Equal((missing.StatusCode, missing.Status.Detail), (hidden.StatusCode, hidden.Status.Detail.Replace(Private, Missing, StringComparison.Ordinal)));

            var resource = $"/blobs/{Sha}/5";
            var hiddenRead = await Assert.ThrowsAsync<RpcException>(() => client.ReadAsync(Private + resource));
            var missingRead = await Assert.ThrowsAsync<RpcException>(() => client.ReadAsync(Missing + resource));
            Assert.Equal((missingRead.StatusCode, missingRead.Status.Detail), (hiddenRead.StatusCode, hiddenRead.Status.Detail.Replace(Private, Missing, StringComparison.Ordinal)));
        }

        using var dead = new ReapiClient(_daemon.GrpcAddress, "fw1_unknown-token");
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => dead.CapabilitiesAsync(Private))).StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => dead.CapabilitiesAsync(Missing))).StatusCode);
    }

    private async Task<Answer> AssertSameAsync(HttpClient client, string method, string path, string? body)
    {
        var hidden = await SendAsync(client, method, path.Replace("{c}", Private, StringComparison.Ordinal), body?.Replace("{c}", Private, StringComparison.Ordinal));
        var missing = await SendAsync(client, method, path.Replace("{c}", Missing, StringComparison.Ordinal), body?.Replace("{c}", Missing, StringComparison.Ordinal));
        Assert.Equal(missing, hidden with { Body = hidden.Body.Replace(Private, Missing, StringComparison.Ordinal) });
        Assert.NotEqual(200, hidden.Status);
        return hidden;
    }

    /// <summary>What a client can observe: status, the headers that differ by answer, and the body (without the per-request trace id).</summary>
    private sealed record Answer(int Status, string? ContentType, string WwwAuthenticate, string NoSniff, string Body);

    private static async Task<Answer> SendAsync(HttpClient client, string method, string path, string? body)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);
        var text = TraceId().Replace(await response.Content.ReadAsStringAsync(), "");
        return new Answer(
            (int)response.StatusCode,
            response.Content.Headers.ContentType?.ToString(),
            string.Join(", ", response.Headers.WwwAuthenticate),
            string.Join(", ", response.Headers.TryGetValues("X-Content-Type-Options", out var v) ? v : []),
            text);
    }

    [GeneratedRegex("\"traceId\":\"[^\"]*\",?")]
    private static partial Regex TraceId();
}
