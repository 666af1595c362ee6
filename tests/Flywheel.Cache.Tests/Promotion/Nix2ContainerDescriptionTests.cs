using System.Text;
using Flywheel.Cache.Promotion.Oci;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>Reading nix2container descriptions: what is one, and what the gateway refuses by name.</summary>
public sealed class Nix2ContainerDescriptionTests
{
    private const string Path1 = "/nix/store/0c0xkiqq2s2yvsbxy2pbb6kma8lmmsdd-hello-2.12";

    private static Nix2ContainerImage? Parse(string json) => Nix2ContainerImage.TryParse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void A_description_gives_its_layers_store_paths_and_what_it_says_about_them()
    {
        var image = Parse($$"""{"version": 1, "image-config": {"Cmd": ["x"]}, "arch": "arm64", "created": null, "layers": [{"digest": "sha256:{{new string('a', 64)}}", "size": 1024, "diff_ids": "", "paths": [{"path": "{{Path1}}"}], "mediatype": "application/vnd.oci.image.layer.v1.tar"}]}""")!;

        Assert.Equal("arm64", image.Architecture);
        Assert.Equal(Path1, Assert.Single(image.StorePaths).FullPath);
        Assert.Equal(("sha256:" + new string('a', 64), 1024L), (image.Layers[0].Digest, image.Layers[0].Size));
    }

    [Theory]
    [InlineData("""{"schemaVersion": 2}""")]
    [InlineData("""[1, 2]""")]
    [InlineData("""not json""")]
    public void Other_json_is_not_a_description(string json) => Assert.Null(Parse(json));

    [Theory]
    [InlineData("""{"version": 2, "image-config": {}, "layers": []}""", "version 2 is not supported")]
    [InlineData("""{"version": 1, "image-config": {}, "arch": 5, "layers": []}""", "wrong type")]
    [InlineData("""{"version": 1, "image-config": {}, "layers": [{"layer-path": "/nix/store/x-base.tar", "paths": []}]}""", "comes from the tar file")]
    [InlineData("""{"version": 1, "image-config": {}, "layers": [{"mediatype": "application/vnd.oci.image.layer.v1.tar+gzip", "paths": []}]}""", "pushes uncompressed layers")]
    [InlineData("""{"version": 1, "image-config": {}, "layers": [{"paths": [{"path": "/etc/passwd"}]}]}""", "is not a store path")]
    [InlineData("""{"version": 1, "image-config": {}, "layers": [{"paths": [{"path": "/nix/store/0c0xkiqq2s2yvsbxy2pbb6kma8lmmsdd-hello-2.12", "options": {"rewrite": {"regex": "^/nix", "repl": ""}}}]}]}""", "has options (rewrite)")]
    public void What_the_gateway_cannot_reproduce_is_refused_by_name(string json, string expected)
    {
        var error = Assert.Throws<CacheException>(() => Parse(json));
        Assert.Equal(CacheError.Invalid, error.Error);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
