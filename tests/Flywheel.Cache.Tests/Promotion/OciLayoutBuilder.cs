using System.Text;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>An OCI image layout (one layer with one file) as a NAR, for tests of the OCI publisher.</summary>
internal static class OciLayoutBuilder
{
    /// <param name="layerMediaType">The media type the manifest gives the layer (the bytes stay an uncompressed tar).</param>
    /// <param name="pretty">Writes the manifest indented, with a space after each colon, as a tool might.</param>
    public static (byte[] Nar, string ManifestDigest, byte[] Layer) Build(
        string fileContents, int layerPadding = 0, string layerMediaType = "application/vnd.oci.image.layer.v1.tar", bool pretty = false)
    {
        var layer = Tar("hello.txt", Encoding.UTF8.GetBytes(fileContents + new string('x', layerPadding)));
        var layerDigest = "sha256:" + BlobDigest.Compute(layer).ToHex();
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["{{{layerDigest}}}"]}}""");
        var configDigest = "sha256:" + BlobDigest.Compute(config).ToHex();
        var manifestText = $$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{configDigest}}}","size":{{{config.Length}}}},"layers":[{"mediaType":"{{{layerMediaType}}}","digest":"{{{layerDigest}}}","size":{{{layer.Length}}}}]}""";
        var manifest = Encoding.UTF8.GetBytes(pretty ? manifestText.Replace(",", ",\n  ").Replace("\":", "\": ") + "\n" : manifestText);
        var manifestDigest = "sha256:" + BlobDigest.Compute(manifest).ToHex();
        var index = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{manifestDigest}}}","size":{{{manifest.Length}}}}]}""");
        var files = new Dictionary<string, NarBuilder.Node>
        {
            ["blobs/sha256/" + configDigest[7..]] = NarBuilder.Node.File(config),
            ["blobs/sha256/" + layerDigest[7..]] = NarBuilder.Node.File(layer),
            ["blobs/sha256/" + manifestDigest[7..]] = NarBuilder.Node.File(manifest),
            ["index.json"] = NarBuilder.Node.File(index),
            ["oci-layout"] = NarBuilder.Node.File("""{"imageLayoutVersion":"1.0.0"}"""),
        };
        return (NarBuilder.Directory(files), manifestDigest, layer);
    }

    private static byte[] Tar(string name, byte[] contents)
    {
        using var output = new MemoryStream();
        var writer = new Flywheel.Cache.Promotion.TarballWriter(output, DateTimeOffset.UnixEpoch);
        writer.FileAsync(name, contents.Length, false, new MemoryStream(contents), CancellationToken.None).GetAwaiter().GetResult();
        writer.FinishAsync(CancellationToken.None).GetAwaiter().GetResult();
        return output.ToArray();
    }
}

/// <summary>A docker-archive (<c>docker save</c> format: manifest.json, the config, a layer tar) as a store path that is one file.</summary>
internal static class DockerArchiveBuilder
{
    public static (byte[] Nar, byte[] Layer) Build(string fileContents, bool gzip)
    {
        var layer = LayerTar("hello.txt", fileContents);
        var layerDigest = "sha256:" + BlobDigest.Compute(layer).ToHex();
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":["{{{layerDigest}}}"]}}""");
        var configName = BlobDigest.Compute(config).ToHex() + ".json";
        var layerName = layerDigest[7..] + "/layer.tar";
        var manifest = Encoding.UTF8.GetBytes($$$"""[{"Config":"{{{configName}}}","RepoTags":["hello:latest"],"Layers":["{{{layerName}}}"]}]""");

        using var archive = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(archive, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.Directory, layerDigest[7..] + "/"));
            foreach (var (name, bytes) in new[] { (layerName, layer), (configName, config), ("manifest.json", manifest) })
            {
                writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(bytes) });
            }
        }

        var bytesOut = archive.ToArray();
        if (gzip)
        {
            using var compressed = new MemoryStream();
            using (var z = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            {
                z.Write(bytesOut);
            }

            bytesOut = compressed.ToArray();
        }

        return (NarBuilder.RegularFile(bytesOut), layer);
    }

    /// <summary>An uncompressed layer tar with one file (written by the platform's tar writer, not ours).</summary>
    public static byte[] LayerTar(string name, string contents)
    {
        using var output = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(output, System.Formats.Tar.TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new System.Formats.Tar.UstarTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(contents)) });
        }

        return output.ToArray();
    }
}
