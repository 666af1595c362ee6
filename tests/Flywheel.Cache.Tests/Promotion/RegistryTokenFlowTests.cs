using System.Text;
using Flywheel.Cache.Promotion.Oci;
using Flywheel.Cache.Storage;
using Microsoft.AspNetCore.Http;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// The registry Bearer token flow in detail, against an in-test registry front that answers 401 with a Bearer
/// challenge and a token endpoint that takes Basic credentials and checks the scope and service exactly; and the
/// token is fetched once and reused. (<see cref="TokenAuthRegistryTests"/> runs the flow against a real registry.)
/// </summary>
public sealed class RegistryTokenFlowTests
{
    [Fact]
    public async Task The_client_fetches_a_token_with_basic_credentials_for_push_and_pull_and_uses_it()
    {
        var uploads = new Dictionary<string, byte[]>();
        await using var server = await TestHttpServer.StartAsync(async (context, self) =>
        {
            var path = context.Request.Path.Value!;
            if (path == "/token")
            {
                var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ci:secret"));
                var ok = context.Request.Headers.Authorization.ToString() == basic
                    && context.Request.Query["scope"] == "repository:team/app:push,pull" && context.Request.Query["service"] == "test-registry";
                context.Response.StatusCode = ok ? 200 : 401;
                if (ok)
                {
                    await context.Response.WriteAsJsonAsync(new { token = "tok-123" });
                }

                return;
            }

            if (context.Request.Headers.Authorization.ToString() != "Bearer tok-123")
            {
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{self.Address}token\",service=\"test-registry\",scope=\"repository:team/app:pull,push\"";
                return;
            }

            switch (context.Request.Method)
            {
                case "HEAD":
                    context.Response.StatusCode = 404;
                    return;
                case "POST":
                    context.Response.StatusCode = 202;
                    context.Response.Headers.Location = "/v2/team/app/blobs/uploads/u1?state=x";
                    return;
                case "PUT" when path.Contains("/blobs/uploads/", StringComparison.Ordinal):
                    using (var body = new MemoryStream())
                    {
                        await context.Request.Body.CopyToAsync(body);
                        uploads[context.Request.Query["digest"]!] = body.ToArray();
                    }

                    context.Response.StatusCode = 201;
                    return;
                default:
                    context.Response.StatusCode = 400;
                    return;
            }
        });

        using var http = new HttpClient();
        var client = new RegistryClient(http, server.Address, "team/app", "ci", "secret");
        var bytes = "layer bytes"u8.ToArray();
        var digest = "sha256:" + BlobDigest.Compute(bytes).ToHex();

        Assert.False(await client.BlobExistsAsync(digest, CancellationToken.None));
        await client.UploadAsync(digest, bytes.Length, new MemoryStream(bytes), null, CancellationToken.None);

        Assert.Equal(bytes, uploads[digest]);
        Assert.Equal(1, server.Requests.Count(r => r.StartsWith("GET /token", StringComparison.Ordinal))); // the token is kept

        var refused = new RegistryClient(http, server.Address, "team/app", "ci", "wrong");
        var error = await Assert.ThrowsAsync<CacheException>(() => refused.BlobExistsAsync(digest, CancellationToken.None));
        Assert.Equal(CacheError.Forbidden, error.Error);
        Assert.Contains("refused the credentials for repository:team/app:push,pull", error.Message);
    }
}
