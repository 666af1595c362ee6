using System.Text.Json.Nodes;
using static Flywheel.Cache.Promotion.Oci.ImageInspector;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// A docker-archive (what <c>docker save</c> and Nix's dockerTools write: <c>manifest.json</c> =
/// <c>[{"Config": "….json", "RepoTags": […], "Layers": ["…/layer.tar", …]}]</c>, the config, the layer tars) as an OCI
/// image: the config pushed as it is with the OCI config media type, each layer file as a blob whose digest is the
/// SHA-256 of its bytes (<c>…layer.v1.tar</c>, or <c>…tar+gzip</c> when the file is gzip), under an OCI manifest.
/// The config's <c>rootfs.diff_ids</c> must name one layer each, and equal the digest of an uncompressed one.
/// </summary>
internal static class DockerArchive
{
    public static OciImage Convert(
        byte[] manifestJson, IReadOnlyDictionary<string, byte[]> small, IReadOnlyDictionary<string, long> sizes,
        IReadOnlyDictionary<string, (string Digest, bool Gzip)> hashed, ImageContainer container)
    {
        var entry = (Json(manifestJson, "manifest.json") as JsonArray)?.FirstOrDefault() as JsonObject
            ?? throw Broken("manifest.json of the docker-archive is not an array of images");
        var configPath = entry["Config"]?.GetValue<string>() ?? throw Broken("manifest.json names no Config");
        var layerPaths = (entry["Layers"] as JsonArray ?? throw Broken("manifest.json has no Layers array"))
            .Select(l => l?.GetValue<string>() ?? throw Broken("manifest.json has a null layer")).ToList();
        var configBytes = small.TryGetValue(configPath, out var c) ? c : throw Broken($"the config {configPath} is missing from the docker-archive (or too large)");
        var config = new OciDescriptor(OciImage.OciConfigType, hashed[configPath].Digest, configBytes.Length);
        var diffIds = (Json(configBytes, "the config " + configPath)["rootfs"]?["diff_ids"] as JsonArray)?.Select(d => d?.GetValue<string>()).ToList()
            ?? throw Broken($"the config {configPath} has no rootfs.diff_ids");
        if (diffIds.Count != layerPaths.Count)
        {
            throw Broken($"the config lists {diffIds.Count} diff_ids for {layerPaths.Count} layers");
        }

        var sources = new Dictionary<string, BlobSource>(StringComparer.Ordinal) { [config.Digest] = new InlineBlob(configBytes) };
        var layers = new List<OciDescriptor>();
        for (var i = 0; i < layerPaths.Count; i++)
        {
            var path = layerPaths[i];
            if (!hashed.TryGetValue(path, out var layer))
            {
                throw Broken($"the layer {path} is missing from the docker-archive");
            }

            if (!layer.Gzip && layer.Digest != diffIds[i])
            {
                throw Broken($"the layer {path} is {layer.Digest}, and the config's diff_ids[{i}] says {diffIds[i]}");
            }

            layers.Add(new OciDescriptor(layer.Gzip ? OciImage.OciGzipLayerType : OciImage.OciLayerType, layer.Digest, sizes[path]));
            sources.TryAdd(layer.Digest, new FileBlob(path));
        }

        return new OciImage("docker-archive", container, OciImage.OciManifestType, OciImage.ManifestOf(config, layers), config, layers, sources);
    }
}
