using System.Net;
using System.Net.Http.Headers;
using Flywheel.Cache.Caches;

namespace Flywheel.Cache.Tests.Server.Ui;

/// <summary>
/// <c>GET /ui/</c>: the status page's files come from the executable with a strict Content-Security-Policy, nosniff,
/// gzip when asked, an ETag answered with 304; no other file is served, and <c>ui</c> cannot become a cache name.
/// </summary>
public sealed class UiEndpointsTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public UiEndpointsTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Theory]
    [InlineData("/ui/", "text/html; charset=utf-8", "<script src=\"app.js\" defer></script>")]
    [InlineData("/ui/app.js", "text/javascript; charset=utf-8", "'/_api/v1' + path")]
    [InlineData("/ui/app.css", "text/css; charset=utf-8", "svg.chart")]
    [InlineData("/ui/favicon.svg", "image/svg+xml", "<svg")]
    public async Task Each_file_is_served_with_its_type_and_a_strict_policy(string path, string contentType, string content)
    {
        using var client = _daemon.CreateClient();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType!.ToString());
        Assert.StartsWith("default-src 'self';", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains(content, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_has_no_inline_script_or_style_and_names_no_other_origin()
    {
        using var client = _daemon.CreateClient();
        var html = await client.GetStringAsync("/ui/");
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("style=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch("<script(?![^>]*\\ssrc=)", html);
        Assert.DoesNotContain("//", html.Replace("http://www.w3.org", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var script = await client.GetStringAsync("/ui/app.js");
        Assert.DoesNotContain("innerHTML", script, StringComparison.Ordinal);
        Assert.DoesNotContain("setAttribute('style'", script, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", script, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gzip_is_sent_when_asked_and_an_unchanged_file_is_304()
    {
        using var client = _daemon.CreateClient();
        using var gzipRequest = new HttpRequestMessage(HttpMethod.Get, "/ui/app.js");
        gzipRequest.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var gzipped = await client.SendAsync(gzipRequest);
        Assert.Equal("gzip", Assert.Single(gzipped.Content.Headers.ContentEncoding));
        var plain = await client.GetByteArrayAsync("/ui/app.js");
        Assert.True(gzipped.Content.Headers.ContentLength < plain.Length / 2);

        using var again = new HttpRequestMessage(HttpMethod.Get, "/ui/app.js");
        again.Headers.IfNoneMatch.Add(gzipped.Headers.ETag!);
        using var notModified = await client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task Other_names_are_404_and_ui_redirects_to_the_page()
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _daemon.BaseAddress };
        using var missing = await client.GetAsync("/ui/index.htm");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var outside = await client.GetAsync("/ui/..%2Fappsettings.json");
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
        using var redirect = await client.GetAsync("/ui");
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal("/ui/", redirect.Headers.Location!.ToString());
    }

    [Fact]
    public void Ui_is_a_reserved_cache_name()
    {
        var e = Assert.Throws<CacheException>(() => CacheNames.Validate("ui"));
        Assert.Equal(CacheError.Invalid, e.Error);
    }
}
