using System.Formats.Tar;
using System.Text.Json;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Tests.Infrastructure;
using Flywheel.Cache.Tests.Server;
using static Flywheel.Cache.Tests.Promotion.PromotionClient;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// The other image inputs of the oci-image class, promoted through a daemon to a real registry and checked with
/// skopeo: a docker-archive tarball (plain and gzip), converted to an OCI manifest; a nix2container description,
/// whose layer is written from the store paths it names.
/// </summary>
public sealed class OciImageFormatsTests : IClassFixture<DaemonFixture>, IClassFixture<DockerRegistry>, IDisposable
{
    private const string Policy = """{"trustCacheKey": true, "allow": ["hello-image*"]}""";
    private const string Deriver = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-image.drv";
    private readonly DaemonFixture _daemon;
    private readonly DockerRegistry _registry;
    private readonly string _copies = Directory.CreateTempSubdirectory("flywheel-formats-").FullName;

    public OciImageFormatsTests(DaemonFixture daemon, DockerRegistry registry)
    {
        _daemon = daemon;
        _registry = registry;
    }

    public void Dispose() => Directory.Delete(_copies, recursive: true);

    private async Task<HttpClient> ClientAsync() => _daemon.CreateClient(await CreatePromoteTokenAsync(_daemon.CreateClient(_daemon.AdminToken)));

    private PromotionRequestBody Request(NarUpload upload, string reference) =>
        new("main", [upload.StorePath], Policy, "packages.x86_64-linux.image", "https://github.com/o/r", "0123456789abcdef", $"oci://{_registry.Host}/{reference}");

    /// <summary>skopeo copy to a dir: (the manifest, the folder); skopeo checks every blob's digest on the way.</summary>
    private async Task<(JsonElement Manifest, string Folder)> CopyAsync(string reference)
    {
        var folder = Path.Combine(_copies, Guid.NewGuid().ToString("N"));
        await Skopeo.RunAsync("copy", "--src-tls-verify=false", $"docker://{_registry.Host}/{reference}", $"dir:{folder}");
        return (JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "manifest.json"))).RootElement, folder);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_docker_archive_is_pushed_as_an_oci_image_that_skopeo_pulls(bool gzip)
    {
        var client = await ClientAsync();
        var (nar, layer) = DockerArchiveBuilder.Build("hello from a docker archive", gzip);
        var upload = NarUpload.FromNar("hello-image.tar" + (gzip ? ".gz" : ""), nar, Deriver);
        await upload.PushAsync(client);

        var promotion = await PromoteAsync(client, Request(upload, $"archive:{(gzip ? "gz" : "plain")}"));

        Assert.True(promotion.Status == "published", promotion.Error + " " + promotion.Decision);
        var details = promotion.Publication!.Value.GetProperty("details");
        Assert.Equal("docker-archive", details.GetProperty("format").GetString());
        using var inspect = JsonDocument.Parse(await Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/archive:{(gzip ? "gz" : "plain")}"));
        Assert.Equal(details.GetProperty("manifestDigest").GetString(), inspect.RootElement.GetProperty("Digest").GetString());
        var (manifest, folder) = await CopyAsync($"archive:{(gzip ? "gz" : "plain")}");
        Assert.Equal("application/vnd.oci.image.manifest.v1+json", manifest.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.oci.image.config.v1+json", manifest.GetProperty("config").GetProperty("mediaType").GetString());
        var pushedLayer = manifest.GetProperty("layers")[0];
        Assert.Equal("application/vnd.oci.image.layer.v1.tar", pushedLayer.GetProperty("mediaType").GetString());
        Assert.Equal(layer, await File.ReadAllBytesAsync(Path.Combine(folder, pushedLayer.GetProperty("digest").GetString()![7..])));
        Assert.False(manifest.TryGetProperty("annotations", out _)); // source and revision are in the provenance only
    }

    private async Task<NarUpload> PushLayerContentsAsync(HttpClient client)
    {
        var data = NarUpload.FromNar("hello-data", NarBuilder.Directory(new Dictionary<string, NarBuilder.Node>
        {
            ["bin/hello"] = NarBuilder.Node.File("#!/bin/sh\necho hello\n", executable: true),
            ["share/msg"] = NarBuilder.Node.File("hello from a store path"),
            ["link"] = NarBuilder.Node.Symlink("share/msg"),
        }), "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-data.drv");
        await data.PushAsync(client);
        return data;
    }

    private static string Description(string layerPath, string digest = "", long size = 0) => $$"""
        {"version": 1, "image-config": {"Entrypoint": ["{{layerPath}}/bin/hello"]},
         "layers": [{"digest": "{{digest}}", "size": {{size}}, "diff_ids": "{{digest}}", "paths": [{"path": "{{layerPath}}"}], "mediatype": "application/vnd.oci.image.layer.v1.tar"}],
         "arch": "amd64", "created": "1970-01-01T00:00:01Z"}
        """;

    private async Task<NarUpload> PushDescriptionAsync(HttpClient client, string json, params string[] references)
    {
        var upload = NarUpload.FromNar("hello-image.json", NarBuilder.RegularFile(json), Deriver, references);
        await upload.PushAsync(client);
        return upload;
    }

    [Fact]
    public async Task A_nix2container_description_is_pushed_with_a_deterministic_layer_of_its_store_paths()
    {
        var client = await ClientAsync();
        var data = await PushLayerContentsAsync(client);
        var image = await PushDescriptionAsync(client, Description(data.StorePath), data.BaseName);

        var promotion = await PromoteAsync(client, Request(image, "n2c:v1"));

        Assert.True(promotion.Status == "published", promotion.Error + " " + promotion.Decision);
        Assert.Equal("nix2container", promotion.Publication!.Value.GetProperty("details").GetProperty("format").GetString());
        var (manifest, folder) = await CopyAsync("n2c:v1");
        var layerDigest = manifest.GetProperty("layers")[0].GetProperty("digest").GetString()!;
        var config = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(folder, manifest.GetProperty("config").GetProperty("digest").GetString()![7..]))).RootElement;
        Assert.Equal(layerDigest, config.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString());
        Assert.Equal($"{data.StorePath}/bin/hello", config.GetProperty("config").GetProperty("Entrypoint")[0].GetString());
        Assert.Equal(("amd64", "linux"), (config.GetProperty("architecture").GetString(), config.GetProperty("os").GetString()));

        var layerBytes = await File.ReadAllBytesAsync(Path.Combine(folder, layerDigest[7..]));
        await using var reader = new TarReader(new MemoryStream(layerBytes));
        var entries = new List<TarEntry>();
        while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
        {
            entries.Add(entry);
        }

        var root = data.StorePath;
        Assert.Equal(["/", "/nix", "/nix/store", root, root + "/bin", root + "/bin/hello", root + "/link", root + "/share", root + "/share/msg"], entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.Equal((1L, 0, 0, "root"), (e.ModificationTime.ToUnixTimeSeconds(), e.Uid, e.Gid, ((PosixTarEntry)e).UserName)));
        var modes = entries.ToDictionary(e => e.Name, e => Convert.ToString((int)e.Mode, 8));
        Assert.Equal(["755", "755", "755", "555", "555", "555", "777", "555", "444"], entries.Select(e => modes[e.Name]));
        Assert.Equal("share/msg", entries.Single(e => e.Name == root + "/link").LinkName);
        Assert.Equal("hello from a store path", new StreamReader(entries.Single(e => e.Name == root + "/share/msg").DataStream!).ReadToEnd());

        // The same paths give the same bytes: a description that carries the layer's digest and size pushes the same layer.
        var described = await PushDescriptionAsync(client, Description(data.StorePath, layerDigest, layerBytes.Length), data.BaseName);
        var again = await PromoteAsync(client, Request(described, "n2c:v2"));
        Assert.True(again.Status == "published", again.Error);
        Assert.Equal(layerDigest, (await CopyAsync("n2c:v2")).Manifest.GetProperty("layers")[0].GetProperty("digest").GetString());
    }

    [Fact]
    public async Task A_description_whose_digest_the_layer_does_not_have_fails_without_pushing_a_different_image()
    {
        var client = await ClientAsync();
        var data = await PushLayerContentsAsync(client);
        var wrong = "sha256:" + new string('0', 64);
        var image = await PushDescriptionAsync(client, Description(data.StorePath, wrong, 4096), data.BaseName);

        var promotion = await PromoteAsync(client, Request(image, "n2c-wrong:v1"));

        Assert.Equal("failed", promotion.Status);
        Assert.Contains($"the description says {wrong} (4096 bytes)", promotion.Error, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync("inspect", "--tls-verify=false", $"docker://{_registry.Host}/n2c-wrong:v1"));
    }

    [Fact]
    public async Task The_closure_check_includes_the_layer_paths_of_a_description()
    {
        var client = await ClientAsync();
        var absent = "/nix/store/" + new string('c', 32) + "-not-pushed";
        var image = await PushDescriptionAsync(client, Description(absent)); // its narinfo does not even reference it

        var promotion = await PromoteAsync(client, Request(image, "n2c-incomplete:v1"));

        Assert.Equal("rejected", promotion.Status);
        Assert.Equal("oci-image", promotion.Decision!.Value.GetProperty("candidate").GetString());
        Assert.Contains(new string('c', 32) + "-not-pushed", Rule(promotion, "closure-complete"), StringComparison.Ordinal);
    }
}
