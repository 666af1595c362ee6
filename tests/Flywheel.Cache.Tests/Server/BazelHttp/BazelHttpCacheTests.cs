using System.Net;
using System.Net.Http.Json;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Tests.Server.BazelGrpc;
using Google.Protobuf;

namespace Flywheel.Cache.Tests.Server.BazelHttp;

/// <summary>Bazel's HTTP cache routes (<c>/ac/</c>, <c>/cas/</c>, with and without an instance prefix).</summary>
public sealed class BazelHttpCacheTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public BazelHttpCacheTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Theory]
    [InlineData("")]
    [InlineData("/main")]
    public async Task Cas_and_action_cache_round_trip(string prefix)
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        var blob = ReapiServiceTests.RandomBytes(70_000);
        var hash = ReapiClient.DigestOf(blob).Hash;
        using (var put = await client.PutAsync($"{prefix}/cas/{hash}", new ByteArrayContent(blob)))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        Assert.Equal(blob, await client.GetByteArrayAsync($"{prefix}/cas/{hash}"));
        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{prefix}/cas/{hash}")))
        {
            Assert.Equal(blob.Length, head.Content.Headers.ContentLength);
        }

        var result = new ActionResult { ExitCode = 0 };
        result.OutputFiles.Add(new OutputFile { Path = "out", Digest = ReapiClient.DigestOf(blob) });
        var action = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(32)).Hash;
        using (var put = await client.PutAsync($"{prefix}/ac/{action}", new ByteArrayContent(result.ToByteArray())))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        Assert.Equal(result, ActionResult.Parser.ParseFrom(await client.GetByteArrayAsync($"{prefix}/ac/{action}")));
    }

    [Fact]
    public async Task Misses_are_404_and_entries_with_missing_blobs_are_misses()
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        var absent = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(16)).Hash;
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/cas/{absent}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/ac/{absent}")).StatusCode);

        var dangling = new ActionResult { StdoutDigest = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(16)) };
        var action = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(32)).Hash;
        (await client.PutAsync($"/ac/{action}", new ByteArrayContent(dangling.ToByteArray()))).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/ac/{action}")).StatusCode);
    }

    [Fact]
    public async Task Cas_put_that_does_not_hash_to_its_name_is_refused_and_not_stored()
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        var claimed = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(500)).Hash;
        using var put = await client.PutAsync($"/cas/{claimed}", new ByteArrayContent(ReapiServiceTests.RandomBytes(500)));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains(claimed, await put.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/cas/{claimed}")).StatusCode);
    }

    [Theory]
    [InlineData("/ac/abc", HttpStatusCode.BadRequest)]
    [InlineData("/cas/ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", HttpStatusCode.BadRequest)]
    [InlineData("/nowhere/cas/0000000000000000000000000000000000000000000000000000000000000000", HttpStatusCode.NotFound)]
    [InlineData("/..%2F..%2Fetc/cas/0000000000000000000000000000000000000000000000000000000000000000", HttpStatusCode.BadRequest)]
    public async Task Bad_names_and_unknown_instances_are_answered_clearly(string path, HttpStatusCode expected)
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await client.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Action_cache_put_must_be_an_action_result_and_needs_push()
    {
        var action = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(32)).Hash;
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var garbage = await admin.PutAsync($"/ac/{action}", new ByteArrayContent([0xff, 0xff, 0xff, 0x01])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        }

        using var anonymous = _daemon.CreateClient();
        using (var denied = await anonymous.PutAsync($"/ac/{action}", new ByteArrayContent(new ActionResult().ToByteArray())))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        }

        using var created = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache = "main", scopes = "pull" });
        using var doc = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        using var puller = _daemon.CreateClient(doc.RootElement.GetProperty("secret").GetString());
        using var forbidden = await puller.PutAsync($"/cas/{ReapiClient.DigestOf([1, 2, 3]).Hash}", new ByteArrayContent([1, 2, 3]));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }
}
