using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.FlakeHub;

/// <summary>
/// The FlakeHub adapter: publishes a clean derivation as a FlakeHub release following flakehub-push's flow, all
/// authenticated with the CI-issued OIDC token the caller passes through: <c>GET token/status</c>,
/// <c>POST upload/{org}/{flake}/{version}/{length}/{sha256 base64}</c> with the release metadata (answering
/// <c>{s3_upload_url, uuid}</c>; 409 means that release exists already), <c>PUT</c> of the release tarball to the
/// returned URL (with <c>x-amz-checksum-sha256</c>), then <c>POST publish/{uuid}</c>. The release tarball is a
/// gzip'd tar of the promoted store paths' contents, built from their NARs into a temporary file.
/// </summary>
public sealed class FlakeHubPublisher(NarSource nars, HttpClient http, Uri baseUrl) : IPromotionPublisher
{
    public PromotionClass Class => PromotionClass.CleanDerivation;

    public async Task<Publication> PublishAsync(PublishJob job, CancellationToken ct)
    {
        var token = job.Request.Credentials?.FlakeHubToken;
        if (string.IsNullOrEmpty(token))
        {
            throw CacheException.Invalid("publishing to FlakeHub needs the CI's OIDC token (flakeHubToken)");
        }

        var status = await SendAsync(HttpMethod.Get, "token/status", token, null, ct).ConfigureAwait(false);
        var owner = await ReadJsonAsync(status, "token status", ct).ConfigureAwait(false);
        var version = job.Target.Version ?? (job.Request.Revision is { Length: > 0 } rev ? $"0.1.0+rev-{rev}" : "0.1.0");

        var file = Path.Combine(Path.GetTempPath(), $"flywheel-release-{job.PromotionId}-{Guid.NewGuid():N}.tar.gz");
        try
        {
            var (length, sha256) = await WriteTarballAsync(job, file, ct).ConfigureAwait(false);
            var hashBase64 = Convert.ToBase64String(sha256);
            var stage = await SendAsync(HttpMethod.Post, $"upload/{job.Target.Repository}/{Uri.EscapeDataString(version)}/{length}/{Uri.EscapeDataString(hashBase64)}",
                token, JsonContent.Create(Metadata(job, owner)), ct, allowConflict: true).ConfigureAwait(false);
            var reference = $"{baseUrl.GetLeftPart(UriPartial.Authority)}/flake/{job.Target.Repository}/{version}";
            var details = new Dictionary<string, string> { ["version"] = version, ["tarballSha256"] = Convert.ToHexStringLower(sha256) };
            if (stage.StatusCode == HttpStatusCode.Conflict)
            {
                stage.Dispose();
                details["note"] = "the release existed already";
            }
            else
            {
                var staged = await ReadJsonAsync(stage, "upload request", ct).ConfigureAwait(false);
                var uploadUrl = staged["s3_upload_url"]?.GetValue<string>() ?? throw Failed("the upload request's answer has no s3_upload_url");
                var uuid = staged["uuid"]?.GetValue<string>() ?? throw Failed("the upload request's answer has no uuid");
                await UploadAsync(uploadUrl, file, length, hashBase64, ct).ConfigureAwait(false);
                using var published = await SendAsync(HttpMethod.Post, $"publish/{Uri.EscapeDataString(uuid)}", token, null, ct).ConfigureAwait(false);
                details["uuid"] = uuid;
            }

            var subjects = new List<ProvenanceSubject> { new($"{job.Target.Repository}/{version}.tar.gz", Convert.ToHexStringLower(sha256)) };
            subjects.AddRange(job.Paths.Where(p => p.Info is not null).Select(p => new ProvenanceSubject(p.Path.FullPath, p.Info!.NarHash.Digest.ToHex())));
            return new Publication(reference, subjects, job.Provenance(subjects), null, details);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private async Task<(long Length, byte[] Sha256)> WriteTarballAsync(PublishJob job, string file, CancellationToken ct)
    {
        await using (var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
        {
            await using (var gzip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true))
            {
                var tar = new TarballWriter(gzip, job.CreatedAt);
                foreach (var path in job.Paths)
                {
                    await using var nar = await nars.OpenAsync(job.Cache.Id, path.Path, ct).ConfigureAwait(false);
                    await tar.StorePathAsync(nar, path.Path.BaseName, ct).ConfigureAwait(false);
                }

                await tar.FinishAsync(ct).ConfigureAwait(false);
            }
        }

        await using var read = File.OpenRead(file);
        return (read.Length, await SHA256.HashDataAsync(read, ct).ConfigureAwait(false));
    }

    private static JsonObject Metadata(PublishJob job, JsonObject owner) => new()
    {
        ["commit_count"] = 0,
        ["description"] = $"{job.Request.Attribute ?? string.Join(", ", job.Paths.Select(p => p.Path.Name))}, promoted by flywheel",
        ["outputs"] = new JsonObject
        {
            ["storePaths"] = new JsonArray(job.Paths.Select(p => (JsonNode)JsonValue.Create(p.Path.FullPath)!).ToArray()),
            ["attribute"] = job.Request.Attribute,
        },
        ["raw_flake_metadata"] = new JsonObject { ["url"] = job.Request.Repository is null ? null : $"git+{job.Request.Repository}?rev={job.Request.Revision}" },
        ["readme"] = null,
        ["repo"] = job.Target.Repository,
        ["revision"] = job.Request.Revision,
        ["visibility"] = "public",
        ["mirrored"] = false,
        ["project_id"] = owner["project_id"]?.DeepClone(),
        ["owner_id"] = owner["owner_id"]?.DeepClone(),
        ["spdx_identifier"] = null,
        ["tags"] = new JsonArray(),
    };

    private async Task UploadAsync(string url, string file, long length, string hashBase64, CancellationToken ct)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw Failed($"the upload URL '{url}' is not an http(s) URL");
        }

        await using var body = File.OpenRead(file);
        using var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new StreamContent(body) };
        request.Content.Headers.ContentLength = length;
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        request.Headers.TryAddWithoutValidation("x-amz-checksum-sha256", hashBase64);
        using var response = await SendRawAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw Failed($"the tarball upload answered {(int)response.StatusCode}");
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string token, HttpContent? content, CancellationToken ct, bool allowConflict = false)
    {
        var request = new HttpRequestMessage(method, new Uri(baseUrl, path)) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await SendRawAsync(request, ct).ConfigureAwait(false);
        if (response.IsSuccessStatusCode || (allowConflict && response.StatusCode == HttpStatusCode.Conflict))
        {
            return response;
        }

        var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        response.Dispose();
        var error = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? CacheError.Forbidden : CacheError.Unavailable;
        throw new CacheException(error, $"FlakeHub {method} {path.Split('/')[0]} answered {(int)response.StatusCode}: {(body.Length > 300 ? body[..300] : body).Trim()}");
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken ct)
    {
        try
        {
            return await http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new CacheException(CacheError.Unavailable, $"FlakeHub at {baseUrl} is unreachable: {e.Message}", e);
        }
    }

    private static async Task<JsonObject> ReadJsonAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        using (response)
        {
            try
            {
                return JsonNode.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)) as JsonObject ?? throw Failed($"the {what} answer is not a JSON object");
            }
            catch (JsonException e)
            {
                throw Failed($"the {what} answer is not JSON: {e.Message}");
            }
        }
    }

    private static CacheException Failed(string problem) => new(CacheError.Unavailable, "FlakeHub: " + problem);
}
