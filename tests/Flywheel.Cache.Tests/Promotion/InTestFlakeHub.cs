using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// A stand-in for FlakeHub that checks what FlakeHub checks in flakehub-push's flow, all but the tarball PUT with the
/// CI's OIDC token as Bearer: <c>GET token/status</c>; <c>POST upload/{org}/{flake}/{version}/{length}/{sha256 base64}</c>
/// with the release metadata (flakehub-push's fields: raw_flake_metadata and outputs objects, repo, revision,
/// visibility), 409 when the version exists; the <c>PUT</c> of the tarball (no credentials, <c>x-amz-checksum-sha256</c>,
/// its length and SHA-256 those of the upload path, a gzip'd tar of one top directory holding flake.nix); <c>POST
/// publish/{uuid}</c>; and <c>GET f/{org}/{flake}/{version}.tar.gz</c> (the tarball as released, what nix fetches).
/// What fails a check is answered 400 with the reason, which the gate records.
/// </summary>
internal sealed class InTestFlakeHub(string oidcToken, string repo) : IAsyncDisposable
{
    private readonly Dictionary<string, Staged> _staged = [];
    private TestHttpServer _server = null!;

    public Uri Address => _server.Address;

    public List<string> Requests => _server.Requests;

    /// <summary>Published releases by version: the tarball (gzip) and the metadata sent with it.</summary>
    public Dictionary<string, (byte[] Tarball, JsonElement Metadata)> Releases { get; } = [];

    public static async Task<InTestFlakeHub> StartAsync(string oidcToken, string repo)
    {
        var hub = new InTestFlakeHub(oidcToken, repo);
        hub._server = await TestHttpServer.StartAsync(hub.HandleAsync);
        return hub;
    }

    private sealed record Staged(string Version, long Length, string Sha256Base64, JsonElement Metadata)
    {
        public byte[]? Tarball { get; set; }
    }

    private async Task HandleAsync(HttpContext context, TestHttpServer server)
    {
        var path = context.Request.Path.Value!;
        if (path.StartsWith("/s3/", StringComparison.Ordinal))
        {
            await UploadAsync(context, path["/s3/".Length..]);
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
            case ("POST", ["upload", var org, var flake, var version, var length, var hash]):
                var metadata = (await JsonDocument.ParseAsync(context.Request.Body)).RootElement.Clone();
                var hasLength = long.TryParse(length, out var size);
                var problem = $"{org}/{flake}" != repo ? $"repository {org}/{flake}"
                    : !hasLength ? "length"
                    : Uri.UnescapeDataString(hash) is not { Length: 44 } ? "sha256"
                    : MetadataProblem(metadata);
                if (problem is not null)
                {
                    await RefuseAsync(context, problem);
                    return;
                }

                if (Releases.ContainsKey(version))
                {
                    context.Response.StatusCode = 409;
                    return;
                }

                var uuid = Guid.NewGuid().ToString();
                _staged[uuid] = new Staged(version, size, Uri.UnescapeDataString(hash), metadata);
                await context.Response.WriteAsJsonAsync(new { s3_upload_url = new Uri(server.Address, "s3/" + uuid).ToString(), uuid });
                return;
            case ("POST", ["publish", var id]) when _staged.TryGetValue(id, out var staged) && staged.Tarball is { } tarball:
                Releases[staged.Version] = (tarball, staged.Metadata);
                return;
            case ("GET", ["f", var org, var flake, var file]) when $"{org}/{flake}" == repo && file.EndsWith(".tar.gz", StringComparison.Ordinal)
                && Releases.TryGetValue(file[..^".tar.gz".Length], out var release):
                context.Response.ContentType = "application/gzip";
                await context.Response.Body.WriteAsync(release.Tarball);
                return;
            default:
                context.Response.StatusCode = 404;
                return;
        }
    }

    private async Task UploadAsync(HttpContext context, string uuid)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var bytes = body.ToArray();
        var sha256 = Convert.ToBase64String(SHA256.HashData(bytes));
        var problem = !_staged.TryGetValue(uuid, out var staged) ? "no such upload"
            : context.Request.Headers.Authorization.Count > 0 ? "credentials sent to the object store"
            : context.Request.ContentType != "application/gzip" ? "content type"
            : context.Request.Headers["x-amz-checksum-sha256"].ToString() != sha256 ? "x-amz-checksum-sha256"
            : bytes.Length != staged.Length ? $"length {bytes.Length}, the upload path said {staged.Length}"
            : sha256 != staged.Sha256Base64 ? $"sha256 {sha256}, the upload path said {staged.Sha256Base64}"
            : TarballProblem(bytes);
        if (problem is not null)
        {
            await RefuseAsync(context, problem);
            return;
        }

        staged!.Tarball = bytes;
    }

    /// <summary>What flakehub-push's ReleaseMetadata carries, with FlakeHub's types.</summary>
    private string? MetadataProblem(JsonElement metadata)
    {
        foreach (var (field, kind) in new[]
        {
            ("commit_count", JsonValueKind.Number), ("raw_flake_metadata", JsonValueKind.Object), ("outputs", JsonValueKind.Object),
            ("repo", JsonValueKind.String), ("revision", JsonValueKind.String), ("visibility", JsonValueKind.String),
            ("mirrored", JsonValueKind.False), ("labels", JsonValueKind.Array),
        })
        {
            if (!metadata.TryGetProperty(field, out var value) || value.ValueKind != kind)
            {
                return $"metadata field {field} is missing or not {kind}";
            }
        }

        if (metadata.GetProperty("repo").GetString() != repo)
        {
            return "metadata repo";
        }

        var outputs = metadata.GetProperty("outputs");
        return outputs.TryGetProperty("version", out _) && outputs.TryGetProperty("inventory", out var inventory) && inventory.ValueKind == JsonValueKind.Object
            ? null : "outputs is not an inventory";
    }

    /// <summary>A release is a flake source: gzip'd tar, one top directory, flake.nix in it.</summary>
    private static string? TarballProblem(byte[] tarball)
    {
        try
        {
            using var gzip = new GZipStream(new MemoryStream(tarball), CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            var names = new List<string>();
            while (tar.GetNextEntry() is { } entry)
            {
                names.Add(entry.Name);
            }

            var tops = names.Select(n => n.Split('/')[0]).Distinct().ToList();
            return tops.Count != 1 ? $"{tops.Count} top directories"
                : !names.Contains(tops[0] + "/flake.nix") ? "no flake.nix in the top directory"
                : null;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            return "not a gzip'd tar: " + e.Message;
        }
    }

    private static async Task RefuseAsync(HttpContext context, string problem)
    {
        context.Response.StatusCode = 400;
        await context.Response.WriteAsync("in-test FlakeHub refuses: " + problem);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
