using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server.Api;

/// <summary>
/// Every <c>/_api/v1</c> route that takes a body checks the token before it reads one, and reads at most
/// <c>Api:MaxBodyBytes</c> (1 MiB by default): anonymous floods are refused unread, oversized bodies are 413, and
/// errors quote no more than a short prefix of what the client sent.
/// </summary>
public sealed class ApiBodyLimitTests : IClassFixture<DaemonFixture>
{
    private const long TenMiB = 10L << 20;
    private const long TwoMiB = 2L << 20;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly DaemonFixture _daemon;

    public ApiBodyLimitTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    public static TheoryData<string, string> BodyRoutes => new()
    {
        { "POST", "/_api/v1/caches" },
        { "PATCH", "/_api/v1/caches/main" },
        { "POST", "/_api/v1/tokens" },
        { "POST", "/_api/v1/caches/main/pins" },
        { "POST", "/_api/v1/caches/main/upstreams" },
        { "POST", "/_api/v1/caches/main/missing" },
        { "POST", "/_api/v1/promotions" },
        { "POST", "/_api/v1/builds" },
    };

    [Theory]
    [MemberData(nameof(BodyRoutes))]
    public async Task An_anonymous_10_MiB_body_is_refused_with_401_before_it_is_sent(string method, string path)
    {
        // 64 KiB of a declared 10 MiB: a route that reads the body first waits for the rest and never answers.
        var response = await RawHttp.SendPartialAsync(_daemon.BaseAddress, method, path, token: null, TenMiB, Filler(64 * 1024), Patience);
        Assert.Equal(401, response.Status);
    }

    [Theory]
    [MemberData(nameof(BodyRoutes))]
    public async Task An_authorized_body_over_the_limit_is_413_before_it_is_sent(string method, string path)
    {
        var response = await RawHttp.SendPartialAsync(_daemon.BaseAddress, method, path, _daemon.AdminToken, TwoMiB, Filler(64 * 1024), Patience);
        Assert.Equal(413, response.Status);
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_is_413()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        var json = "{\"name\":\"" + new string('a', 1536 * 1024) + "\"}";
        using var content = new ChunkedContent(Encoding.UTF8.GetBytes(json));
        using var response = await admin.PostAsync("/_api/v1/caches", content);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.True((await response.Content.ReadAsStringAsync()).Length < 1000);
    }

    [Fact]
    public async Task Errors_quote_only_a_short_prefix_of_a_long_name()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        var name = new string('x', 200_000);
        using var response = await admin.PostAsJsonAsync("/_api/v1/caches", new { name });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;
        Assert.Contains("'" + new string('x', 100) + "…' (200000 characters)", detail, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('x', 101), detail, StringComparison.Ordinal);

        using var token = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache = name, scopes = "pull" });
        Assert.Equal(HttpStatusCode.BadRequest, token.StatusCode);
        Assert.DoesNotContain(new string('x', 101), await token.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var build = await admin.PostAsJsonAsync("/_api/v1/builds", new { installable = name, cache = "main" });
        Assert.Equal(HttpStatusCode.BadRequest, build.StatusCode);
        Assert.DoesNotContain(new string('x', 101), await build.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_is_not_the_routes_json_is_400_without_echoing_it()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        var secret = "not json " + new string('y', 5000);
        using var response = await admin.PostAsync("/_api/v1/caches", new StringContent(secret, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("yyyy", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static byte[] Filler(int length)
    {
        var bytes = new byte[length];
        bytes.AsSpan().Fill((byte)' ');
        bytes[0] = (byte)'{';
        return bytes;
    }

    /// <summary>Content without a length: sent with Transfer-Encoding: chunked.</summary>
    private sealed class ChunkedContent(byte[] bytes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < bytes.Length; offset += 64 * 1024)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(64 * 1024, bytes.Length - offset)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
