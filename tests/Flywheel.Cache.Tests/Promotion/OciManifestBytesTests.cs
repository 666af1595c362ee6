using System.Text;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.Oci;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// What is published is what was built: an OCI layout's manifest is kept byte for byte (the digest index.json names),
/// a converted manifest is the same bytes every time, without <c>\u002B</c> escapes, and policy annotations are the
/// only change, deterministic.
/// </summary>
public sealed class OciManifestBytesTests
{
    [Fact]
    public async Task A_layout_manifest_with_plus_in_its_media_types_and_its_own_spacing_is_kept_byte_for_byte()
    {
        var (nar, digest, _) = OciLayoutBuilder.Build("plus", layerMediaType: OciImage.OciGzipLayerType, pretty: true);

        var image = Assert.IsType<OciImage>(await ImageInspector.InspectAsync(new MemoryStream(nar), CancellationToken.None));

        Assert.Equal(digest, "sha256:" + BlobDigest.Compute(image.Manifest).ToHex());
        Assert.Contains("tar+gzip", Encoding.UTF8.GetString(image.Manifest), StringComparison.Ordinal);
        Assert.Equal(OciImage.OciGzipLayerType, image.Layers[0].MediaType);
    }

    [Fact]
    public async Task A_converted_docker_archive_gives_the_same_manifest_bytes_every_time_with_plus_unescaped()
    {
        var (nar, _) = DockerArchiveBuilder.Build("deterministic", gzip: true);

        var first = Assert.IsType<OciImage>(await ImageInspector.InspectAsync(new MemoryStream(nar), CancellationToken.None));
        var second = Assert.IsType<OciImage>(await ImageInspector.InspectAsync(new MemoryStream(nar), CancellationToken.None));

        Assert.Equal(first.Manifest, second.Manifest);
        var text = Encoding.UTF8.GetString(first.Manifest);
        Assert.Contains("\"application/vnd.oci.image.manifest.v1+json\"", text, StringComparison.Ordinal);
        Assert.Contains("\"application/vnd.oci.image.config.v1+json\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal);
        Assert.DoesNotContain("created", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policy_annotations_are_added_in_key_order_without_escapes_and_give_the_same_bytes_every_time()
    {
        var (nar, _, _) = OciLayoutBuilder.Build("annotated", layerMediaType: OciImage.OciGzipLayerType);
        var image = Assert.IsType<OciImage>(await ImageInspector.InspectAsync(new MemoryStream(nar), CancellationToken.None));
        var policy = PolicyLoader.Parse("annotations:\n  org.opencontainers.image.vendor: \"A+B\"\n  org.opencontainers.image.licenses: MIT\n");

        var once = OciPublisher.Annotate(image.Manifest, policy.Annotations!);
        var twice = OciPublisher.Annotate(image.Manifest, policy.Annotations!);

        Assert.Equal(once, twice);
        var text = Encoding.UTF8.GetString(once);
        Assert.EndsWith("""
            "annotations":{"org.opencontainers.image.licenses":"MIT","org.opencontainers.image.vendor":"A+B"}}
            """, text, StringComparison.Ordinal);
        Assert.Contains("tar+gzip", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_policy_without_annotations_has_none_and_a_bad_one_is_refused()
    {
        Assert.Empty(PolicyLoader.Parse("trustCacheKey: true\n").Annotations ?? new Dictionary<string, string>());
        var error = Assert.Throws<CacheException>(() => PolicyLoader.Parse("{\"annotations\": {\"\": \"x\"}}"));
        Assert.Contains("annotations:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sha256:0123abcd", "sha256-0123abcd")]
    public void The_referrers_tag_is_the_algorithm_and_hex_joined_by_a_dash(string digest, string tag) =>
        Assert.Equal(tag, OciPublisher.ReferrersTag(digest));
}
