using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Nix;
using static Flywheel.Cache.Promotion.Oci.ImageInspector;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>One layer of a nix2container description: the store paths it is made of, and the digest and size it says the tar has.</summary>
public sealed record Nix2ContainerLayer(IReadOnlyList<StorePath> Paths, string? Digest, long? Size);

/// <summary>
/// A nix2container image description (the JSON <c>buildImage</c> outputs: <c>version</c>, <c>image-config</c>,
/// <c>layers</c> = [{<c>digest</c>, <c>size</c>, <c>diff_ids</c>, <c>paths</c>: [{<c>path</c>}], <c>mediatype</c>}],
/// <c>arch</c>, <c>created</c>). Its layers are not in the store path: they are tars of the store paths they name
/// (<see cref="StorePathLayer"/>), made when the image is pushed. Layers that come from a tar file
/// (<c>layer-path</c>: a base image's layers), compressed layers and path options (rewrite, perms,
/// ignoreDestination) change the tar in ways the gateway does not reproduce; they are refused by name.
/// </summary>
public sealed record Nix2ContainerImage(JsonObject ImageConfig, string Architecture, string? Created, IReadOnlyList<Nix2ContainerLayer> Layers)
    : InspectedImage("nix2container")
{
    /// <summary>Every store path the layers are made of (they must be in the cache: the closure check includes them).</summary>
    public IEnumerable<StorePath> StorePaths => Layers.SelectMany(l => l.Paths).DistinctBy(p => p.BaseName);

    /// <summary>The description, or null when the JSON is not one; <see cref="CacheError.Invalid"/> when it is one the gateway cannot push.</summary>
    public static Nix2ContainerImage? TryParse(byte[] json)
    {
        JsonObject? root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }

        if (root is null || !root.ContainsKey("version") || root["image-config"] is not JsonObject config || root["layers"] is not JsonArray layers)
        {
            return null;
        }

        if (root["version"]?.GetValueKind() != JsonValueKind.Number || root["version"]!.GetValue<int>() != 1)
        {
            throw Broken($"nix2container description version {root["version"]} is not supported; the gateway reads version 1");
        }

        try
        {
            var parsed = new List<Nix2ContainerLayer>();
            for (var i = 0; i < layers.Count; i++)
            {
                parsed.Add(Layer(layers[i] as JsonObject ?? throw Broken($"nix2container layer {i} is not an object"), i));
            }

            return new Nix2ContainerImage(
                (JsonObject)config.DeepClone(), root["arch"]?.GetValue<string>() is { Length: > 0 } arch ? arch : "amd64", root["created"]?.GetValue<string>(), parsed);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw Broken($"a nix2container description field has the wrong type: {e.Message}");
        }
    }

    private static Nix2ContainerLayer Layer(JsonObject layer, int i)
    {
        if (layer["layer-path"]?.GetValue<string>() is { Length: > 0 } tar)
        {
            throw Broken($"nix2container layer {i} comes from the tar file {tar} (a base image's layer), which the gateway does not push");
        }

        var mediaType = layer["mediatype"]?.GetValue<string>();
        if (mediaType is { Length: > 0 } && mediaType != OciImage.OciLayerType)
        {
            throw Broken($"nix2container layer {i} is {mediaType}; the gateway pushes uncompressed layers ({OciImage.OciLayerType})");
        }

        var paths = new List<StorePath>();
        foreach (var entry in layer["paths"] as JsonArray ?? [])
        {
            var text = entry?["path"]?.GetValue<string>();
            if (text is null || !StorePath.TryParse(text, out var path))
            {
                throw Broken($"nix2container layer {i}: '{text}' is not a store path");
            }

            if (entry!["options"] is JsonObject options && options.Any(o => o.Value is not null && !IsEmpty(o.Value)))
            {
                throw Broken($"nix2container layer {i}: {text} has options ({string.Join(", ", options.Select(o => o.Key))}), which the gateway does not apply");
            }

            paths.Add(path);
        }

        var digest = layer["digest"]?.GetValue<string>() is { Length: > 0 } d ? d : layer["diff_ids"]?.GetValue<string>() is { Length: > 0 } id ? id : null;
        var size = layer["size"] is JsonValue s && s.GetValue<long>() > 0 ? s.GetValue<long>() : (long?)null;
        return new Nix2ContainerLayer(paths, digest, size);
    }

    private static bool IsEmpty(JsonNode node) => node switch
    {
        JsonObject o => o.All(p => p.Value is null || IsEmpty(p.Value)),
        JsonArray a => a.Count == 0,
        JsonValue v => v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().Length == 0,
        _ => false,
    };

    /// <summary>
    /// The pushable image: each layer written once through a hash (and checked against the digest and size the
    /// description gives), an OCI config (the image config, architecture, <c>os</c> linux, <c>rootfs.diff_ids</c>) and
    /// an OCI manifest.
    /// </summary>
    public async Task<OciImage> ResolveAsync(StorePathLayer writer, CancellationToken ct)
    {
        var layers = new List<OciDescriptor>();
        var sources = new Dictionary<string, BlobSource>(StringComparer.Ordinal);
        for (var i = 0; i < Layers.Count; i++)
        {
            var layer = Layers[i];
            var made = await writer.DescribeAsync(layer.Paths, ct).ConfigureAwait(false);
            if ((layer.Digest is { } digest && digest != made.Digest) || (layer.Size is { } size && size != made.Size))
            {
                throw Broken($"nix2container layer {i}: the tar of its paths is {made.Digest} ({made.Size} bytes), and the description says {layer.Digest} ({layer.Size} bytes)");
            }

            layers.Add(made);
            sources.TryAdd(made.Digest, new StorePathsBlob(layer.Paths));
        }

        var config = new JsonObject
        {
            ["architecture"] = Architecture,
            ["os"] = "linux",
            ["config"] = ImageConfig.DeepClone(),
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layers.Select(l => (JsonNode)JsonValue.Create(l.Digest)).ToArray()) },
        };
        if (Created is not null)
        {
            config["created"] = Created;
        }

        var configBytes = OciImage.Serialize(config);
        var configDescriptor = new OciDescriptor(OciImage.OciConfigType, "sha256:" + Storage.BlobDigest.Compute(configBytes).ToHex(), configBytes.Length);
        sources[configDescriptor.Digest] = new InlineBlob(configBytes);
        return new OciImage(Format, ImageContainer.File, OciImage.OciManifestType, OciImage.ManifestOf(configDescriptor, layers), configDescriptor, layers, sources);
    }
}
