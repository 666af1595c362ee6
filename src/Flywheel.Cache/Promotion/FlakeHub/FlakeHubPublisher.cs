using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Flywheel.Cache.Promotion.FlakeHub;

/// <summary>
/// The FlakeHub adapter: publishes a flake release as flakehub-push does, all authenticated with the CI-issued OIDC
/// token the caller passes through: <c>GET token/status</c>, <c>POST upload/{org}/{flake}/{version}/{length}/{sha256
/// base64}</c> with the release metadata (answering <c>{s3_upload_url, uuid}</c>), <c>PUT</c> of the tarball to the
/// returned URL (with <c>x-amz-checksum-sha256</c>), then <c>POST publish/{uuid}</c>. The release is the flake's
/// source (<see cref="SourceTarball"/>); <c>raw_flake_metadata</c> is <c>nix flake metadata --json</c> of it and
/// <c>outputs</c> its evaluated outputs with the promoted output paths (<see cref="ReleaseOutputs"/>). A 409 (the
/// version exists) is success only when the tarball FlakeHub serves for that version (<c>GET f/{org}/{flake}/{version}.tar.gz</c>)
/// has our SHA-256, and a failure saying so when not.
/// </summary>
public sealed class FlakeHubPublisher(HttpClient http, Uri baseUrl) : IPromotionPublisher
{
    private const int MaxReadmeBytes = 1 << 20;

    public PromotionClass Class => PromotionClass.CleanDerivation;

    public async Task<Publication> PublishAsync(PublishJob job, CancellationToken ct)
    {
        var flake = job.Flake ?? throw CacheException.Invalid(
            "a FlakeHub release is a flake's source: name it with --flake-source (flakeSource) and the promoted outputs with --flake-output (flakeOutputs)");
        var token = job.Request.Credentials?.FlakeHubToken;
        if (string.IsNullOrEmpty(token))
        {
            throw CacheException.Invalid("publishing to FlakeHub needs the CI's OIDC token (flakeHubToken)");
        }

        (await SendAsync(HttpMethod.Get, "token/status", token, null, ct).ConfigureAwait(false)).Dispose(); // the token is good

        var version = job.Target.Version ?? (job.Request.Revision is { Length: > 0 } rev ? $"0.1.0+rev-{rev}" : "0.1.0");
        var file = Path.Combine(Path.GetTempPath(), $"flywheel-release-{job.PromotionId}-{Guid.NewGuid():N}.tar.gz");
        try
        {
            var (length, sha256) = await SourceTarball.WriteAsync(flake, file, ct).ConfigureAwait(false);
            var hashBase64 = Convert.ToBase64String(sha256);
            var hex = Convert.ToHexStringLower(sha256);
            var stage = await SendAsync(HttpMethod.Post, $"upload/{job.Target.Repository}/{Uri.EscapeDataString(version)}/{length}/{Uri.EscapeDataString(hashBase64)}",
                token, JsonContent.Create(await MetadataAsync(job, flake, ct).ConfigureAwait(false)), ct, allowConflict: true).ConfigureAwait(false);
            var reference = $"{baseUrl.GetLeftPart(UriPartial.Authority)}/flake/{job.Target.Repository}/{version}";
            var details = new Dictionary<string, string> { ["version"] = version, ["tarballSha256"] = hex, ["tarballLength"] = length.ToString(CultureInfo.InvariantCulture) };
            if (stage.StatusCode == HttpStatusCode.Conflict)
            {
                stage.Dispose();
                var existing = await ExistingTarballSha256Async(job.Target.Repository, version, token, ct).ConfigureAwait(false);
                if (existing != hex)
                {
                    throw new CacheException(CacheError.Conflict,
                        $"FlakeHub already has {job.Target.Repository} {version} with another tarball (sha256 {existing}, this source's is {hex}): publish a new version");
                }

                details["note"] = "the release existed already with this tarball";
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

            var subjects = new List<ProvenanceSubject> { new($"{job.Target.Repository}/{version}.tar.gz", hex) };
            subjects.AddRange(job.Paths.Where(p => p.Info is not null).Select(p => new ProvenanceSubject(p.Path.FullPath, p.Info!.NarHash.Digest.ToHex())));
            return new Publication(reference, subjects, job.Provenance(subjects), null, details);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The release metadata flakehub-push sends (<c>ReleaseMetadata</c>), from the flake as Nix read it.</summary>
    private static async Task<JsonObject> MetadataAsync(PublishJob job, InspectedFlake flake, CancellationToken ct) => new()
    {
        ["commit_count"] = 0,
        ["description"] = flake.Metadata["description"]?.DeepClone(),
        ["outputs"] = ReleaseOutputs.Create(flake),
        ["raw_flake_metadata"] = flake.Metadata.DeepClone(),
        ["readme"] = await ReadmeAsync(flake.StoreCopy, ct).ConfigureAwait(false),
        ["repo"] = job.Target.Repository,
        ["revision"] = job.Request.Revision ?? flake.Metadata["revision"]?.GetValue<string>(),
        ["visibility"] = "public",
        ["mirrored"] = false,
        ["source_subdirectory"] = null,
        ["spdx_identifier"] = null,
        ["labels"] = new JsonArray(),
    };

    /// <summary>The source's README.md (any case), as flakehub-push sends it; null when there is none.</summary>
    private static async Task<string?> ReadmeAsync(string source, CancellationToken ct)
    {
        var readme = new DirectoryInfo(source).EnumerateFiles().FirstOrDefault(f => f.Name.Equals("readme.md", StringComparison.OrdinalIgnoreCase));
        if (readme is null)
        {
            return null;
        }

        if (readme.Length > MaxReadmeBytes)
        {
            throw CacheException.Invalid($"the flake's {readme.Name} is larger than {MaxReadmeBytes} bytes");
        }

        return await File.ReadAllTextAsync(readme.FullName, ct).ConfigureAwait(false);
    }

    /// <summary>SHA-256 (hex) of the tarball FlakeHub serves for a version, read as a stream.</summary>
    private async Task<string> ExistingTarballSha256Async(string repository, string version, string token, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, $"f/{repository}/{Uri.EscapeDataString(version)}.tar.gz", token, null, ct, streamBody: true).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(body, ct).ConfigureAwait(false));
    }

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

    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, string path, string token, HttpContent? content, CancellationToken ct, bool allowConflict = false, bool streamBody = false)
    {
        var request = new HttpRequestMessage(method, new Uri(baseUrl, path)) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await SendRawAsync(request, ct, streamBody).ConfigureAwait(false);
        if (response.IsSuccessStatusCode || (allowConflict && response.StatusCode == HttpStatusCode.Conflict))
        {
            return response;
        }

        var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        response.Dispose();
        var error = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? CacheError.Forbidden : CacheError.Unavailable;
        throw new CacheException(error, $"FlakeHub {method} {path.Split('/')[0]} answered {(int)response.StatusCode}: {(body.Length > 300 ? body[..300] : body).Trim()}");
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken ct, bool streamBody = false)
    {
        try
        {
            return await http.SendAsync(request, streamBody ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
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
