using System.Text;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>An OCI image layout (one layer with one file) as a NAR, for tests of the OCI publisher.</summary>
internal static class OciLayoutBuilder
{
    public static (byte[] Nar, string ManifestDigest, byte[] Layer) Build(string fileContents, int layerPadding = 0)
    {
        var layer = Tar("hello.txt", Encoding.UTF8.GetBytes(fileContents + new string('x', layerPadding)));
        var layerDigest = "sha256:" + BlobDigest.Compute(layer).ToHex();
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["{{{layerDigest}}}"]}}""");
        var configDigest = "sha256:" + BlobDigest.Compute(config).ToHex();
        var manifest = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{configDigest}}}","size":{{{config.Length}}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{{layerDigest}}}","size":{{{layer.Length}}}}]}""");
        var manifestDigest = "sha256:" + BlobDigest.Compute(manifest).ToHex();
        var index = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{manifestDigest}}}","size":{{{manifest.Length}}}}]}""");
        var blobs = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [configDigest[7..]] = config,
            [layerDigest[7..]] = layer,
            [manifestDigest[7..]] = manifest,
        };

        using var nar = new MemoryStream();
        Str(nar, "nix-archive-1");
        Str(nar, "(");
        Str(nar, "type");
        Str(nar, "directory");
        Entry(nar, "blobs", () =>
        {
            Str(nar, "(");
            Str(nar, "type");
            Str(nar, "directory");
            Entry(nar, "sha256", () =>
            {
                Str(nar, "(");
                Str(nar, "type");
                Str(nar, "directory");
                foreach (var (name, bytes) in blobs)
                {
                    Entry(nar, name, () => File(nar, bytes));
                }

                Str(nar, ")");
            });
            Str(nar, ")");
        });
        Entry(nar, "index.json", () => File(nar, index));
        Entry(nar, "oci-layout", () => File(nar, """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()));
        Str(nar, ")");
        return (nar.ToArray(), manifestDigest, layer);
    }

    private static byte[] Tar(string name, byte[] contents)
    {
        using var output = new MemoryStream();
        var writer = new Flywheel.Cache.Promotion.FlakeHub.TarballWriter(output, DateTimeOffset.UnixEpoch);
        writer.FileAsync(name, contents.Length, false, new MemoryStream(contents), CancellationToken.None).GetAwaiter().GetResult();
        writer.FinishAsync(CancellationToken.None).GetAwaiter().GetResult();
        return output.ToArray();
    }

    private static void Entry(Stream s, string name, Action node)
    {
        Str(s, "entry");
        Str(s, "(");
        Str(s, "name");
        Str(s, name);
        Str(s, "node");
        node();
        Str(s, ")");
    }

    private static void File(Stream s, byte[] contents)
    {
        Str(s, "(");
        Str(s, "type");
        Str(s, "regular");
        Str(s, "contents");
        Bytes(s, contents);
        Str(s, ")");
    }

    private static void Str(Stream s, string value) => NarBuilder.Str(s, value);

    private static void Bytes(Stream s, byte[] value) => NarBuilder.Bytes(s, value);
}
