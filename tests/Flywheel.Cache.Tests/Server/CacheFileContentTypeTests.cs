using System.Net;
using System.Net.Http.Headers;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// What clients upload is served with the content type we choose: build logs as plain text, NAR listings as JSON,
/// with <c>X-Content-Type-Options: nosniff</c>, whatever Content-Type the uploader sent; nosniff is on every answer.
/// </summary>
public sealed class CacheFileContentTypeTests : IClassFixture<DaemonFixture>
{
    private const string Html = "<html><script>alert(1)</script></html>";
    private readonly DaemonFixture _daemon;

    public CacheFileContentTypeTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Theory]
    [InlineData("log/0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw-page.drv", "text/plain; charset=utf-8")]
    [InlineData("1c6kzph7l0dcbqmll3b5dg4ij0ifq0sw.ls", "application/json")]
    public async Task A_file_uploaded_as_html_is_served_as_its_kind_with_nosniff(string file, string expected)
    {
        using var pusher = _daemon.CreateClient(await _daemon.CreateTokenAsync("main", "pull,push"));
        using var content = new StringContent(Html);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/html");
        using (var put = await pusher.PutAsync($"/main/{file}", content))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        using var anonymous = _daemon.CreateClient();
        using var get = await anonymous.GetAsync($"/main/{file}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(expected, get.Content.Headers.ContentType?.ToString());
        Assert.Equal(["nosniff"], get.Headers.GetValues("X-Content-Type-Options"));
        Assert.Equal(Html, await get.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/main/nix-cache-info")]
    [InlineData("/main/0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw.narinfo")]
    [InlineData("/main/nar/0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw.nar")]
    [InlineData("/_api/v1/caches/main")]
    [InlineData("/_api/v1/tokens")]
    [InlineData("/healthz")]
    public async Task Every_answer_carries_nosniff(string path)
    {
        using var anonymous = _daemon.CreateClient();
        using var response = await anonymous.GetAsync(path);
        Assert.Equal(["nosniff"], response.Headers.GetValues("X-Content-Type-Options"));
    }
}
