namespace Flywheel.Cache.Promotion.Oci;

/// <summary>A content descriptor: media type, <c>sha256:</c> digest and size.</summary>
public sealed record OciDescriptor(string MediaType, string Digest, long Size);

/// <summary>
/// An OCI image found in a store path's NAR: its manifest (as the image had it) and the blobs it needs, each at a
/// path inside the NAR (<see cref="BlobPaths"/>) to be streamed from there when pushed.
/// </summary>
public sealed record OciImage(
    string Format,
    string ManifestMediaType,
    byte[] Manifest,
    OciDescriptor Config,
    IReadOnlyList<OciDescriptor> Layers,
    IReadOnlyDictionary<string, string> BlobPaths)
{
    public const string OciManifestType = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndexType = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifestType = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";

    public IEnumerable<OciDescriptor> Blobs => Layers.Prepend(Config);
}
