using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>A content descriptor: media type, <c>sha256:</c> digest and size.</summary>
public sealed record OciDescriptor(string MediaType, string Digest, long Size);

/// <summary>Where the bytes of one blob of an image come from when it is pushed.</summary>
public abstract record BlobSource;

/// <summary>A file of the store path (<see cref="ImageFiles"/>: in its directory, or an entry of its tar archive).</summary>
public sealed record FileBlob(string Path) : BlobSource;

/// <summary>Bytes the gateway made (a converted manifest's config).</summary>
public sealed record InlineBlob(byte[] Bytes) : BlobSource;

/// <summary>A layer written as a tar of store paths of the cache (<see cref="StorePathLayer"/>).</summary>
public sealed record StorePathsBlob(IReadOnlyList<StorePath> Paths) : BlobSource;

/// <summary>What <see cref="ImageInspector"/> found in a store path: a pushable image, or a description that needs its layers made.</summary>
public abstract record InspectedImage(string Format);

/// <summary>
/// An OCI image found in a store path: its manifest (as the image had it, or converted to an OCI manifest) and the
/// blobs it needs, each with where its bytes come from (<see cref="Sources"/>), to be streamed from there when pushed.
/// </summary>
/// <param name="Format">oci-layout, docker-archive or nix2container.</param>
/// <param name="Container">How the store path holds the files that <see cref="FileBlob"/>s name.</param>
public sealed record OciImage(
    string Format,
    ImageContainer Container,
    string ManifestMediaType,
    byte[] Manifest,
    OciDescriptor Config,
    IReadOnlyList<OciDescriptor> Layers,
    IReadOnlyDictionary<string, BlobSource> Sources) : InspectedImage(Format)
{
    public const string OciManifestType = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndexType = "application/vnd.oci.image.index.v1+json";
    public const string OciConfigType = "application/vnd.oci.image.config.v1+json";
    public const string OciLayerType = "application/vnd.oci.image.layer.v1.tar";
    public const string OciGzipLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string DockerManifestType = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";

    public const string EmptyType = "application/vnd.oci.empty.v1+json";

    /// <summary>
    /// How the documents we make are written, so that the same image gives the same bytes (and digest) every time:
    /// compact, properties in the order written, and no escaping beyond JSON's own (media types keep their <c>+</c>).
    /// </summary>
    private static readonly JsonSerializerOptions Writing = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public IEnumerable<OciDescriptor> Blobs => Layers.Prepend(Config);

    /// <summary>A JSON document we make (a converted manifest, a config, a referrer, an index), written deterministically.</summary>
    public static byte[] Serialize(JsonNode document) => JsonSerializer.SerializeToUtf8Bytes(document, Writing);

    /// <summary>An OCI image manifest over a config and layers (what converted images are pushed with).</summary>
    public static byte[] ManifestOf(OciDescriptor config, IReadOnlyList<OciDescriptor> layers) =>
        Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciManifestType,
            ["config"] = Descriptor(config),
            ["layers"] = new JsonArray(layers.Select(l => (JsonNode)Descriptor(l)).ToArray()),
        });

    public static JsonObject Descriptor(OciDescriptor d) =>
        new() { ["mediaType"] = d.MediaType, ["digest"] = d.Digest, ["size"] = d.Size };
}
