using System.Text.Json;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.Oci;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;
using static Flywheel.Cache.Tests.Promotion.PromotionClient;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// OCI image promotions through the API of a real daemon to a real registry (Debian's docker-registry), checked
/// with skopeo: the image is pullable, its manifest is the built one byte for byte (same digest, every time), and the
/// provenance is attached as an OCI 1.1 referrer, listed under the referrers tag (distribution 2.8 has no referrers API).
/// </summary>
public sealed class OciPromotionRegistryTests : IClassFixture<DaemonFixture>, IClassFixture<DockerRegistry>
{
    private const string Policy = """{"trustCacheKey": true, "allow": ["hello-image*"]}""";
    private readonly DaemonFixture _daemon;
    private readonly DockerRegistry _registry;

    public OciPromotionRegistryTests(DaemonFixture daemon, DockerRegistry registry)
    {
        _daemon = daemon;
        _registry = registry;
    }

    private PromotionRequestBody Request(NarUpload upload, string repository, string policy = Policy, bool dryRun = false) => new(
        "main", [upload.StorePath], policy, "packages.x86_64-linux.image", "https://github.com/o/r", "0123456789abcdef", $"oci://{_registry.Host}/{repository}:v1", dryRun);

    private async Task<(HttpClient Client, NarUpload Upload, string ManifestDigest)> PushImageAsync(string contents)
    {
        var admin = _daemon.CreateClient(_daemon.AdminToken);
        var client = _daemon.CreateClient(await CreatePromoteTokenAsync(admin));
        var (nar, digest, _) = OciLayoutBuilder.Build(contents);
        var upload = NarUpload.FromNar("hello-image", nar, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-image.drv");
        await upload.PushAsync(client);
        return (client, upload, digest);
    }

    private async Task<string> RawAsync(string reference) =>
        await Skopeo.RunAsync("inspect", "--raw", "--tls-verify=false", $"docker://{_registry.Host}/{reference}");

    /// <summary>The manifest's bytes exactly as the registry holds them (straight from the distribution API).</summary>
    private async Task<byte[]> ManifestBytesAsync(string repository, string reference)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{_registry.Host}/v2/{repository}/manifests/{reference}");
        request.Headers.Accept.ParseAdd(OciImage.OciManifestType);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync();
    }

    [Fact]
    public async Task An_image_is_pushed_as_built_with_provenance_as_a_referrer_and_skopeo_can_pull_it()
    {
        var (client, upload, originalDigest) = await PushImageAsync("hello from the image");

        var promotion = await PromoteAsync(client, Request(upload, "hello"));

        Assert.True(promotion.Status == "published", promotion.Error);
        Assert.Equal("oci-image", promotion.Class);
        var details = promotion.Publication!.Value.GetProperty("details");
        var manifestDigest = details.GetProperty("manifestDigest").GetString()!;
        Assert.Equal(originalDigest, manifestDigest); // the layout's manifest, untouched

        using var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/hello:v1"));
        Assert.Equal(manifestDigest, inspect.RootElement.GetProperty("Digest").GetString());
        var rawBytes = await ManifestBytesAsync("hello", "v1");
        Assert.Equal(manifestDigest, "sha256:" + BlobDigest.Compute(rawBytes).ToHex());
        var raw = JsonDocument.Parse(rawBytes).RootElement;
        Assert.False(raw.TryGetProperty("annotations", out _));

        // Distribution 2.8 does not take subjects: the referrer is listed in the index under the referrers tag.
        var provenanceDigest = details.GetProperty("provenanceDigest").GetString()!;
        Assert.Contains(provenanceDigest, promotion.Publication.Value.GetProperty("provenanceReference").GetString()!, StringComparison.Ordinal);
        var referrer = await AssertReferrerAsync("hello", manifestDigest, provenanceDigest);
        Assert.Equal("0123456789abcdef", referrer.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("externalParameters").GetProperty("source").GetProperty("revision").GetString());
        Assert.Equal("https://github.com/o/r", referrer.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("externalParameters").GetProperty("source").GetProperty("repository").GetString());

        var copy = Path.Combine(_registry.Directory, "copy-" + Guid.NewGuid().ToString("N"));
        await Skopeo.RunAsync("copy", "--src-tls-verify=false", $"docker://{_registry.Host}/hello:v1", $"dir:{copy}"); // verifies every blob's digest
        Assert.Equal("hello from the image", ReadLayerFile(copy, raw));

        var statement = promotion.Provenance!.Value;
        Assert.Equal(ProvenanceStatement.StatementType, statement.GetProperty("_type").GetString());
        Assert.Equal(ProvenanceStatement.PredicateType, statement.GetProperty("predicateType").GetString());
        Assert.Equal(manifestDigest[7..], statement.GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
        Assert.Equal("0123456789abcdef", statement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("externalParameters").GetProperty("source").GetProperty("revision").GetString());

        // The same request is the same promotion: nothing is pushed again, the record is returned.
        var again = await PromoteAsync(client, Request(upload, "hello"));
        Assert.Equal(promotion.Id, again.Id);
        Assert.Equal(promotion.UpdatedAt, again.UpdatedAt);

        // Promoted again (another revision, another tag): the same image digest; both statements are listed.
        var second = await PromoteAsync(client, Request(upload, "hello") with { Revision = "fedcba9876543210", Target = $"oci://{_registry.Host}/hello:v2" });
        Assert.True(second.Status == "published", second.Error);
        Assert.NotEqual(promotion.Id, second.Id);
        var secondDetails = second.Publication!.Value.GetProperty("details");
        Assert.Equal(manifestDigest, secondDetails.GetProperty("manifestDigest").GetString());
        Assert.Equal(rawBytes, await ManifestBytesAsync("hello", "v2"));
        var secondReferrer = await AssertReferrerAsync("hello", manifestDigest, secondDetails.GetProperty("provenanceDigest").GetString()!);
        Assert.Equal("fedcba9876543210", secondReferrer.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("externalParameters").GetProperty("source").GetProperty("revision").GetString());
        var index = JsonDocument.Parse(await RawAsync($"hello:sha256-{manifestDigest[7..]}")).RootElement;
        Assert.Equal(2, index.GetProperty("manifests").GetArrayLength());

        using var get = await client.GetAsync($"/_api/v1/promotions/{promotion.Id}");
        Assert.Equal("published", JsonDocument.Parse(await get.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        using var list = await client.GetAsync($"/_api/v1/promotions?cache=main&storePath={upload.StorePath}");
        Assert.Contains(promotion.Id, await list.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_rejected_promotion_publishes_nothing_and_names_the_failed_rules()
    {
        var (client, upload, _) = await PushImageAsync("not trusted");
        var policy = """{"trustedKeys": [], "allow": ["something-else"]}""";

        var promotion = await PromoteAsync(client, Request(upload, "rejected", policy));

        Assert.Equal("rejected", promotion.Status);
        Assert.Equal("rejected", promotion.Class);
        var reasons = promotion.Decision!.Value.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()!).ToList();
        Assert.Contains(reasons, r => r.StartsWith("provenance:", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("intentional:", StringComparison.Ordinal));
        Assert.Null(promotion.Publication);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/rejected:v1"));
        Assert.Contains("manifest unknown", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_dry_run_decides_without_publishing()
    {
        var (client, upload, _) = await PushImageAsync("dry run");
        var promotion = await PromoteAsync(client, Request(upload, "dry", dryRun: true));
        Assert.Equal("would-publish", promotion.Status);
        Assert.Equal("oci-image", promotion.Class);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/dry:v1"));
    }

    [Fact]
    public async Task A_publication_that_fails_is_marked_failed_and_the_same_request_retries_it()
    {
        var (client, upload, _) = await PushImageAsync("retry me");
        await using var late = DockerRegistry.OnPort(LoopbackPorts.Next());
        var body = Request(upload, "retried") with { Target = $"oci://{late.Host}/retried:v1" };

        var failed = await PromoteAsync(client, body); // nothing listens there yet
        Assert.Equal("failed", failed.Status);
        Assert.Contains("unreachable", failed.Error);

        await late.InitializeAsync();
        var retried = await PromoteAsync(client, body);
        Assert.Equal(failed.Id, retried.Id);
        Assert.True(retried.Status == "published", retried.Error);
        await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{late.Host}/retried:v1");
    }

    [Fact]
    public async Task Large_blobs_go_in_chunks_and_existing_blobs_are_skipped()
    {
        using var http = new HttpClient();
        var registry = new RegistryClient(http, new Uri($"http://{_registry.Host}/"), "chunks", null, null, chunkBytes: 1000);
        var bytes = new byte[4321];
        Random.Shared.NextBytes(bytes);
        var digest = "sha256:" + BlobDigest.Compute(bytes).ToHex();

        Assert.False(await registry.BlobExistsAsync(digest, CancellationToken.None));
        await registry.UploadAsync(digest, bytes.Length, new MemoryStream(bytes), null, CancellationToken.None);
        Assert.True(await registry.BlobExistsAsync(digest, CancellationToken.None));

        // A cross-repository mount: the registry links the blob into another repository without a byte sent.
        var other = new RegistryClient(http, new Uri($"http://{_registry.Host}/"), "mounted", null, null);
        Assert.Null(await other.TryMountAsync(digest, "chunks", CancellationToken.None));
        Assert.True(await other.BlobExistsAsync(digest, CancellationToken.None));
    }

    /// <summary>
    /// The referrers index under <c>sha256-&lt;hex&gt;</c> lists the artifact; the artifact's subject is the image and its
    /// one layer is the in-toto statement about it, which is returned.
    /// </summary>
    private async Task<JsonElement> AssertReferrerAsync(string repository, string imageDigest, string artifactDigest)
    {
        var index = JsonDocument.Parse(await RawAsync($"{repository}:sha256-{imageDigest[7..]}")).RootElement;
        Assert.Equal(OciImage.OciIndexType, index.GetProperty("mediaType").GetString());
        var entry = index.GetProperty("manifests").EnumerateArray().Single(m => m.GetProperty("digest").GetString() == artifactDigest);
        Assert.Equal(ProvenanceStatement.MediaType, entry.GetProperty("artifactType").GetString());
        Assert.Equal(OciImage.OciManifestType, entry.GetProperty("mediaType").GetString());

        var artifact = JsonDocument.Parse(await RawAsync($"{repository}@{artifactDigest}")).RootElement;
        Assert.Equal(imageDigest, artifact.GetProperty("subject").GetProperty("digest").GetString());
        Assert.Equal(ProvenanceStatement.MediaType, artifact.GetProperty("artifactType").GetString());
        Assert.Equal("application/vnd.oci.empty.v1+json", artifact.GetProperty("config").GetProperty("mediaType").GetString());
        var layer = artifact.GetProperty("layers").EnumerateArray().Single();
        Assert.Equal(ProvenanceStatement.MediaType, layer.GetProperty("mediaType").GetString());

        using var http = new HttpClient();
        var statementBytes = await http.GetByteArrayAsync($"http://{_registry.Host}/v2/{repository}/blobs/{layer.GetProperty("digest").GetString()}");
        var statement = JsonDocument.Parse(statementBytes).RootElement;
        Assert.Equal(ProvenanceStatement.StatementType, statement.GetProperty("_type").GetString());
        Assert.Equal(imageDigest[7..], statement.GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
        return statement.Clone();
    }

    [Fact]
    public async Task A_layout_manifest_with_plus_media_types_and_its_own_spacing_is_published_byte_for_byte()
    {
        var admin = _daemon.CreateClient(_daemon.AdminToken);
        var client = _daemon.CreateClient(await CreatePromoteTokenAsync(admin));
        var (nar, digest, _) = OciLayoutBuilder.Build("spaced out", layerMediaType: OciImage.OciGzipLayerType, pretty: true);
        var upload = NarUpload.FromNar("hello-image-spaced", nar, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-image-spaced.drv");
        await upload.PushAsync(client);

        var promotion = await PromoteAsync(client, Request(upload, "spaced"));

        Assert.True(promotion.Status == "published", promotion.Error);
        Assert.Equal(digest, promotion.Publication!.Value.GetProperty("details").GetProperty("manifestDigest").GetString());
        using var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/spaced:v1"));
        Assert.Equal(digest, inspect.RootElement.GetProperty("Digest").GetString());
        var raw = await ManifestBytesAsync("spaced", "v1");
        Assert.Contains("tar+gzip", System.Text.Encoding.UTF8.GetString(raw), StringComparison.Ordinal);
        Assert.Equal(digest, "sha256:" + BlobDigest.Compute(raw).ToHex());
    }

    private static string ReadLayerFile(string copyDirectory, JsonElement manifest)
    {
        var layerDigest = manifest.GetProperty("layers")[0].GetProperty("digest").GetString()!;
        var tar = File.ReadAllBytes(Path.Combine(copyDirectory, layerDigest[7..]));
        var size = Convert.ToInt64(System.Text.Encoding.ASCII.GetString(tar, 124, 11), 8);
        return System.Text.Encoding.UTF8.GetString(tar, 512, (int)size);
    }
}
