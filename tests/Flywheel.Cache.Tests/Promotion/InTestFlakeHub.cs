using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// A stand-in for FlakeHub that checks each request of the publish flow: token status, the upload request with the
/// release metadata (for <paramref name="repo"/> at <paramref name="version"/>), the tarball PUT with its checksum
/// (no credentials on it), publish; everything but the tarball PUT with the CI's OIDC token as Bearer.
/// </summary>
internal sealed class InTestFlakeHub(string oidcToken, string repo, string version) : IAsyncDisposable
{
    private const string Uuid = "0192f000-0000-7000-8000-000000000001";
    private TestHttpServer _server = null!;

    public Uri Address => _server.Address;

    public List<string> Requests => _server.Requests;

    /// <summary>The release tarball (gzip) as uploaded; null until then.</summary>
    public byte[]? Tarball { get; private set; }

    public JsonElement? Metadata { get; private set; }

    public static async Task<InTestFlakeHub> StartAsync(string oidcToken, string repo, string version)
    {
        var hub = new InTestFlakeHub(oidcToken, repo, version);
        hub._server = await TestHttpServer.StartAsync(hub.HandleAsync);
        return hub;
    }

    private async Task HandleAsync(HttpContext context, TestHttpServer server)
    {
        var path = context.Request.Path.Value!;
        if (path.StartsWith("/s3/", StringComparison.Ordinal))
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var bytes = body.ToArray();
            var checksum = context.Request.Headers["x-amz-checksum-sha256"].ToString();
            if (checksum != Convert.ToBase64String(SHA256.HashData(bytes)) || context.Request.ContentLength != bytes.Length
                || context.Request.ContentType != "application/gzip" || context.Request.Headers.Authorization.Count > 0)
            {
                context.Response.StatusCode = 400;
                return;
            }

            Tarball = bytes;
            return;
        }

        if (context.Request.Headers.Authorization.ToString() != "Bearer " + oidcToken)
        {
            context.Response.StatusCode = 401;
            await context.Response.WriteAsJsonAsync("bad token");
            return;
        }

        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        switch (context.Request.Method, parts)
        {
            case ("GET", ["token", "status"]):
                await context.Response.WriteAsJsonAsync(new { project_id = 11, owner_id = 22 });
                return;
            case ("POST", ["upload", var org, var flake, var v, var length, var hash]):
                Metadata = (await JsonDocument.ParseAsync(context.Request.Body)).RootElement.Clone();
                if ($"{org}/{flake}" != repo || v != version || !long.TryParse(length, out _) || Uri.UnescapeDataString(hash).Length != 44
                    || Metadata.Value.GetProperty("repo").GetString() != repo || Metadata.Value.GetProperty("project_id").GetInt32() != 11)
                {
                    context.Response.StatusCode = 400;
                    return;
                }

                await context.Response.WriteAsJsonAsync(new { s3_upload_url = new Uri(server.Address, "s3/release").ToString(), uuid = Uuid });
                return;
            case ("POST", ["publish", Uuid]):
                context.Response.StatusCode = Tarball is null ? 409 : 200;
                return;
            default:
                context.Response.StatusCode = 404;
                return;
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
