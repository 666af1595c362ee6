using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// Finds out whether a store path is an OCI image, reading it once (<see cref="ImageFiles"/>): an OCI image layout
/// (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>), a docker-archive (<c>docker save</c>: <c>manifest.json</c>,
/// a config and layer tars; converted to an OCI manifest), either as a directory or a tar archive (gzip or not), or a
/// nix2container description (<see cref="Nix2ContainerImage"/>). Only small files (JSON documents: indexes, manifests,
/// configs) are kept in memory, up to a fixed budget; other files are hashed as they stream by.
/// </summary>
public static class ImageInspector
{
    private const long SmallFile = 4L * 1024 * 1024;
    private const long Budget = 32L * 1024 * 1024;

    /// <summary>The image, or null when the store path is not one; <see cref="CacheError.Invalid"/> when it is a broken one.</summary>
    public static async Task<InspectedImage?> InspectAsync(Stream nar, CancellationToken ct)
    {
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var small = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var hashed = new Dictionary<string, (string Digest, bool Gzip)>(StringComparer.Ordinal);
        long kept = 0;
        var container = await ImageFiles.ReadAsync(nar, async (path, size, contents, token) =>
        {
            sizes[path] = size;
            var wanted = path is "index.json" or "oci-layout" or "manifest.json" or ""
                || path.EndsWith(".json", StringComparison.Ordinal) || path.StartsWith("blobs/sha256/", StringComparison.Ordinal);
            if (wanted && size <= SmallFile && kept + size <= Budget)
            {
                var bytes = new byte[size];
                await contents.ReadExactlyAsync(bytes, token).ConfigureAwait(false);
                small[path] = bytes;
                kept += size;
                hashed[path] = ("sha256:" + Storage.BlobDigest.Compute(bytes).ToHex(), bytes is [0x1f, 0x8b, ..]);
            }
            else if (path.Length > 0 && !path.StartsWith("blobs/", StringComparison.Ordinal))
            {
                hashed[path] = await HashAsync(contents, token).ConfigureAwait(false);
            }
        }, ct).ConfigureAwait(false);

        if (small.ContainsKey("oci-layout") && small.TryGetValue("index.json", out var index))
        {
            return FromLayout(index, small, sizes, container);
        }

        if (small.TryGetValue("manifest.json", out var dockerManifest) && container != ImageContainer.File)
        {
            return DockerArchive.Convert(dockerManifest, small, sizes, hashed, container);
        }

        return container == ImageContainer.File && small.TryGetValue("", out var description) ? Nix2ContainerImage.TryParse(description) : null;
    }

    private static async Task<(string Digest, bool Gzip)> HashAsync(Stream contents, CancellationToken ct)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        var first = true;
        var gzip = false;
        try
        {
            int read;
            while ((read = await contents.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                if (first)
                {
                    gzip = read >= 2 && buffer[0] == 0x1f && buffer[1] == 0x8b;
                    first = false;
                }

                hash.AppendData(buffer, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        return ("sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset()), gzip);
    }

    private static OciImage FromLayout(byte[] index, Dictionary<string, byte[]> small, Dictionary<string, long> sizes, ImageContainer container)
    {
        var manifestDescriptor = FirstManifest(Json(index, "index.json"), "index.json", small);
        var manifestBytes = Blob(small, manifestDescriptor.Digest, "manifest");
        var manifest = Json(manifestBytes, "the manifest " + manifestDescriptor.Digest);
        var config = Descriptor(manifest["config"], "the manifest's config");
        var layers = (manifest["layers"] as JsonArray ?? throw Broken("the manifest has no layers array"))
            .Select((l, i) => Descriptor(l, $"layer {i}")).ToList();
        var paths = new Dictionary<string, BlobSource>(StringComparer.Ordinal);
        foreach (var blob in layers.Prepend(config))
        {
            var path = BlobPath(blob.Digest);
            if (!sizes.TryGetValue(path, out var size) || size != blob.Size)
            {
                throw Broken($"blob {blob.Digest} ({blob.Size} bytes) is {(sizes.ContainsKey(path) ? $"{sizes[path]} bytes in the layout" : "missing from the layout")}");
            }

            paths[blob.Digest] = new FileBlob(path);
        }

        return new OciImage("oci-layout", container, manifestDescriptor.MediaType, manifestBytes, config, layers, paths);
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

    internal static JsonNode Json(byte[] bytes, string what)
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

    internal static OciDescriptor Descriptor(JsonNode? node, string what)
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

    internal static CacheException Broken(string problem) => CacheException.Invalid($"the image is broken: {problem}");
}
