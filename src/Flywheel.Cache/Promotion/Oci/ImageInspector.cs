using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// Finds out whether a store path's NAR is an OCI image, reading it once: an OCI image layout directory
/// (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>). Only small files (JSON documents: the index,
/// manifests, configs) are kept in memory, up to a fixed budget; layers are only measured.
/// </summary>
public static class ImageInspector
{
    private const long SmallFile = 4L * 1024 * 1024;
    private const long Budget = 32L * 1024 * 1024;

    /// <summary>The image, or null when the NAR is not one; <see cref="CacheError.Invalid"/> when it is a broken one.</summary>
    public static async Task<OciImage?> InspectAsync(Stream nar, CancellationToken ct)
    {
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var small = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var rootIsDirectory = false;
        long kept = 0;
        await NarReader.ReadAsync(nar, async (node, contents, token) =>
        {
            if (node.Path.Length == 0)
            {
                rootIsDirectory = node.Type == NarNodeType.Directory;
            }

            if (node.Type != NarNodeType.Regular || contents is null || !rootIsDirectory)
            {
                return;
            }

            sizes[node.Path] = node.Size;
            var wanted = node.Path is "index.json" or "oci-layout" || node.Path.StartsWith("blobs/sha256/", StringComparison.Ordinal);
            if (wanted && node.Size <= SmallFile && kept + node.Size <= Budget)
            {
                var bytes = new byte[node.Size];
                await contents.ReadExactlyAsync(bytes, token).ConfigureAwait(false);
                small[node.Path] = bytes;
                kept += node.Size;
            }
        }, ct).ConfigureAwait(false);

        if (!rootIsDirectory || !small.ContainsKey("oci-layout") || !small.TryGetValue("index.json", out var index))
        {
            return null;
        }

        return FromLayout(index, small, sizes);
    }

    private static OciImage FromLayout(byte[] index, Dictionary<string, byte[]> small, Dictionary<string, long> sizes)
    {
        var manifestDescriptor = FirstManifest(Json(index, "index.json"), "index.json", small);
        var manifestBytes = Blob(small, manifestDescriptor.Digest, "manifest");
        var manifest = Json(manifestBytes, "the manifest " + manifestDescriptor.Digest);
        var config = Descriptor(manifest["config"], "the manifest's config");
        var layers = (manifest["layers"] as JsonArray ?? throw Broken("the manifest has no layers array"))
            .Select((l, i) => Descriptor(l, $"layer {i}")).ToList();
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var blob in layers.Prepend(config))
        {
            var path = BlobPath(blob.Digest);
            if (!sizes.TryGetValue(path, out var size) || size != blob.Size)
            {
                throw Broken($"blob {blob.Digest} ({blob.Size} bytes) is {(sizes.ContainsKey(path) ? $"{sizes[path]} bytes in the layout" : "missing from the layout")}");
            }

            paths[blob.Digest] = path;
        }

        return new OciImage("oci-layout", manifestDescriptor.MediaType, manifestBytes, config, layers, paths);
    }

    /// <summary>The first image manifest an index names, following one nested index.</summary>
    private static OciDescriptor FirstManifest(JsonNode index, string what, Dictionary<string, byte[]> small, int depth = 0)
    {
        var first = (index["manifests"] as JsonArray)?.FirstOrDefault() ?? throw Broken($"{what} lists no manifests");
        var descriptor = Descriptor(first, what + " manifests[0]");
        if (descriptor.MediaType is OciImage.OciIndexType or OciImage.DockerListType)
        {
            return depth > 0
                ? throw Broken("indexes nested more than one deep")
                : FirstManifest(Json(Blob(small, descriptor.Digest, "index"), "index " + descriptor.Digest), "index " + descriptor.Digest, small, depth + 1);
        }

        return descriptor.MediaType is OciImage.OciManifestType or OciImage.DockerManifestType
            ? descriptor
            : throw Broken($"{what} names a {descriptor.MediaType}, not an image manifest");
    }

    public static string BlobPath(string digest) => "blobs/sha256/" + digest["sha256:".Length..];

    private static byte[] Blob(Dictionary<string, byte[]> small, string digest, string what) =>
        small.TryGetValue(BlobPath(digest), out var bytes) ? bytes : throw Broken($"the {what} {digest} is missing from the layout (or larger than {SmallFile} bytes)");

    private static JsonNode Json(byte[] bytes, string what)
    {
        try
        {
            return JsonNode.Parse(bytes) ?? throw Broken($"{what} is null");
        }
        catch (JsonException e)
        {
            throw Broken($"{what} is not JSON: {e.Message}");
        }
    }

    private static OciDescriptor Descriptor(JsonNode? node, string what)
    {
        var mediaType = node?["mediaType"]?.GetValue<string>();
        var digest = node?["digest"]?.GetValue<string>();
        var size = node?["size"]?.GetValue<long>();
        if (mediaType is null || digest is null || size is null || size < 0
            || !digest.StartsWith("sha256:", StringComparison.Ordinal) || !Storage.BlobDigest.TryParseHex(digest.AsSpan(7), out _))
        {
            throw Broken($"{what} is not a descriptor with mediaType, a sha256 digest and size");
        }

        return new OciDescriptor(mediaType, digest, size.Value);
    }

    private static CacheException Broken(string problem) => CacheException.Invalid($"the OCI image layout is broken: {problem}");
}
