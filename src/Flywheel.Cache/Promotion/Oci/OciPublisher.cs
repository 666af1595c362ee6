using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// Publishes an OCI image output to a registry: the image (<see cref="ImageInspector"/>: an OCI layout, a
/// docker-archive, a nix2container description) is read from the NAR in the blob store (twice: once to find the
/// manifest, once to stream the blobs the registry lacks; a nix2container layer is written from its store paths'
/// NARs once to learn its digest and once while it is pushed), and its manifest is put under the target's tag byte for
/// byte as built (an OCI layout's is the one <c>index.json</c> names; a converted one is written deterministically), so
/// the published digest is the built one and promoting again gives it again. Only a policy's <c>annotations</c> change
/// it (deterministically). Source, revision and times go in the provenance statement, pushed as an OCI 1.1 artifact
/// whose <c>subject</c> is the image: found through the referrers API, or, when the registry does not say it took the
/// subject (no <c>OCI-Subject</c> header), listed in the image index tagged <c>sha256-&lt;hex&gt;</c> (the referrers tag
/// schema of the distribution spec).
/// </summary>
public sealed class OciPublisher(NarSource nars, HttpClient http, long chunkBytes = RegistryClient.DefaultChunkBytes) : IPromotionPublisher
{
    private static readonly byte[] EmptyConfig = "{}"u8.ToArray();

    public PromotionClass Class => PromotionClass.OciImage;

    public async Task<Publication> PublishAsync(PublishJob job, CancellationToken ct)
    {
        if (job.Paths.Count != 1)
        {
            throw CacheException.Invalid($"an OCI image promotion names exactly one store path, not {job.Paths.Count}");
        }

        var path = job.Paths[0].Path;
        var layers = new StorePathLayer((p, token) => nars.OpenAsync(job.Cache.Id, p, token));
        InspectedImage? inspected;
        await using (var nar = await nars.OpenAsync(job.Cache.Id, path, ct).ConfigureAwait(false))
        {
            inspected = await ImageInspector.InspectAsync(nar, ct).ConfigureAwait(false);
        }

        var image = inspected switch
        {
            OciImage found => found,
            Nix2ContainerImage description => await description.ResolveAsync(layers, ct).ConfigureAwait(false),
            _ => throw CacheException.Invalid($"{path} is not an OCI image (layout, docker-archive or nix2container description)"),
        };

        var credentials = job.Request.Credentials;
        var registry = new RegistryClient(http, job.Target.RegistryBaseUri, job.Target.Repository, credentials?.RegistryUser, credentials?.RegistryPassword, chunkBytes);
        var files = new Dictionary<string, OciDescriptor>(StringComparer.Ordinal);
        var others = new List<OciDescriptor>();
        var sessions = new Dictionary<string, Uri>(StringComparer.Ordinal);
        var mounted = 0;
        foreach (var blob in image.Blobs.DistinctBy(b => b.Digest))
        {
            if (await registry.BlobExistsAsync(blob.Digest, ct).ConfigureAwait(false))
            {
                continue;
            }

            var session = await TryMountAsync(registry, blob.Digest, job.MountFrom, ct).ConfigureAwait(false);
            if (session is null)
            {
                mounted++;
                continue;
            }

            if (image.Sources[blob.Digest] is FileBlob file)
            {
                files[file.Path] = blob;
            }
            else
            {
                others.Add(blob);
            }

            if (session != NoSession)
            {
                sessions[blob.Digest] = session;
            }
        }

        var uploaded = files.Count + others.Count;
        foreach (var blob in others)
        {
            var session = sessions.GetValueOrDefault(blob.Digest);
            switch (image.Sources[blob.Digest])
            {
                case InlineBlob inline:
                    using (var stream = new MemoryStream(inline.Bytes, writable: false))
                    {
                        await registry.UploadAsync(blob.Digest, blob.Size, stream, session, ct).ConfigureAwait(false);
                    }

                    break;
                case StorePathsBlob generated:
                    await layers.StreamAsync(generated.Paths, (stream, token) => registry.UploadAsync(blob.Digest, blob.Size, stream, session, token), ct).ConfigureAwait(false);
                    break;
            }
        }

        if (files.Count > 0)
        {
            await using var nar = await nars.OpenAsync(job.Cache.Id, path, ct).ConfigureAwait(false);
            await ImageFiles.ReadAsync(nar, async (name, _, contents, token) =>
            {
                if (files.Remove(name, out var blob))
                {
                    await registry.UploadAsync(blob.Digest, blob.Size, contents, sessions.GetValueOrDefault(blob.Digest), token).ConfigureAwait(false);
                }
            }, ct).ConfigureAwait(false);
            if (files.Count > 0)
            {
                throw CacheException.Invalid($"the image in {path} changed between reads: {string.Join(", ", files.Keys)} not found");
            }
        }

        var manifest = job.Annotations.Count == 0 ? image.Manifest : Annotate(image.Manifest, job.Annotations);
        var (digest, _) = await registry.PutManifestAsync(job.Target.Tag, image.ManifestMediaType, manifest, ct).ConfigureAwait(false);
        var reference = $"{job.Target.Registry}/{job.Target.Repository}@{digest}";
        var subjects = new List<ProvenanceSubject>
        {
            new($"{job.Target.Registry}/{job.Target.Repository}:{job.Target.Tag}", digest["sha256:".Length..]),
        };
        var statement = job.Provenance(subjects);
        var (provenanceDigest, attached) = await AttachAsync(registry, statement, new OciDescriptor(image.ManifestMediaType, digest, manifest.Length), ct).ConfigureAwait(false);
        return new Publication(reference, subjects, statement, attached, new Dictionary<string, string>
        {
            ["manifestDigest"] = digest,
            ["provenanceDigest"] = provenanceDigest,
            ["tag"] = job.Target.Tag,
            ["blobsUploaded"] = uploaded.ToString(CultureInfo.InvariantCulture),
            ["blobsMounted"] = mounted.ToString(CultureInfo.InvariantCulture),
            ["format"] = image.Format,
        });
    }

    private static readonly Uri NoSession = new("about:none");

    /// <summary>Null when a mount succeeded; an upload session the registry offered instead; else <see cref="NoSession"/>.</summary>
    private static async Task<Uri?> TryMountAsync(RegistryClient registry, string digest, IReadOnlyList<string> from, CancellationToken ct)
    {
        foreach (var repository in from.Where(r => r != registry.Repository).Take(3))
        {
            // 201: mounted; 202: the registry could not mount from there and opened an upload instead.
            return await registry.TryMountAsync(digest, repository, ct).ConfigureAwait(false);
        }

        return NoSession;
    }

    /// <summary>The manifest with the policy's annotations added (the same policy gives the same bytes).</summary>
    internal static byte[] Annotate(byte[] manifest, IReadOnlyDictionary<string, string> added)
    {
        var node = ImageInspector.Json(manifest, "the manifest").AsObject();
        var annotations = node["annotations"] as JsonObject ?? new JsonObject();
        foreach (var (key, value) in added.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            annotations[key] = value;
        }

        node["annotations"] = annotations;
        return OciImage.Serialize(node);
    }

    /// <summary>
    /// Pushes the statement as an OCI 1.1 artifact whose subject is the image; when the registry does not say it took
    /// the subject, adds it to the referrers index under the fallback tag. Returns the artifact's digest and where it is.
    /// </summary>
    private static async Task<(string Digest, string Reference)> AttachAsync(RegistryClient registry, byte[] statement, OciDescriptor subject, CancellationToken ct)
    {
        var configDigest = "sha256:" + BlobDigest.Compute(EmptyConfig).ToHex();
        var statementDigest = "sha256:" + BlobDigest.Compute(statement).ToHex();
        foreach (var (digest, bytes) in new[] { (configDigest, EmptyConfig), (statementDigest, statement) })
        {
            if (!await registry.BlobExistsAsync(digest, ct).ConfigureAwait(false))
            {
                using var stream = new MemoryStream(bytes, writable: false);
                await registry.UploadAsync(digest, bytes.Length, stream, null, ct).ConfigureAwait(false);
            }
        }

        var annotations = new JsonObject { ["in-toto.io/predicate-type"] = ProvenanceStatement.PredicateType };
        var manifest = OciImage.Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciImage.OciManifestType,
            ["artifactType"] = ProvenanceStatement.MediaType,
            ["config"] = OciImage.Descriptor(new(OciImage.EmptyType, configDigest, EmptyConfig.Length)),
            ["layers"] = new JsonArray(OciImage.Descriptor(new(ProvenanceStatement.MediaType, statementDigest, statement.Length))),
            ["subject"] = OciImage.Descriptor(subject),
            ["annotations"] = annotations.DeepClone(),
        });
        var artifact = new OciDescriptor(OciImage.OciManifestType, "sha256:" + BlobDigest.Compute(manifest).ToHex(), manifest.Length);
        var (_, subjectAccepted) = await registry.PutManifestAsync(artifact.Digest, OciImage.OciManifestType, manifest, ct).ConfigureAwait(false);
        var where = $"{registry.Repository}@{artifact.Digest}";
        if (subjectAccepted)
        {
            return (artifact.Digest, $"{where} (referrer of {subject.Digest})");
        }

        var tag = ReferrersTag(subject.Digest);
        await AddToReferrersIndexAsync(registry, tag, artifact, ProvenanceStatement.MediaType, annotations, ct).ConfigureAwait(false);
        return (artifact.Digest, $"{where} (referrer of {subject.Digest}, listed under {registry.Repository}:{tag})");
    }

    /// <summary>The referrers tag schema's tag for a digest: <c>&lt;alg&gt;-&lt;hex&gt;</c>.</summary>
    internal static string ReferrersTag(string digest) => digest.Replace(':', '-');

    /// <summary>
    /// The referrers tag schema: fetch the image index under the tag (none yet: an empty one), add the artifact's
    /// descriptor unless it is listed already, and put the index back. Anything but an image index there is an error.
    /// </summary>
    private static async Task AddToReferrersIndexAsync(
        RegistryClient registry, string tag, OciDescriptor artifact, string artifactType, JsonObject annotations, CancellationToken ct)
    {
        var existing = await registry.GetManifestAsync(tag, OciImage.OciIndexType, ct).ConfigureAwait(false);
        JsonObject index;
        if (existing is { } found)
        {
            index = ImageInspector.Json(found.Bytes, $"the referrers index {registry.Repository}:{tag}") as JsonObject
                ?? throw new CacheException(CacheError.Unavailable, $"{registry.Repository}:{tag} is not a referrers index");
            if (found.MediaType != OciImage.OciIndexType || index["manifests"] is not JsonArray)
            {
                throw new CacheException(CacheError.Unavailable, $"{registry.Repository}:{tag} holds a {found.MediaType}, not a referrers index (an image index)");
            }
        }
        else
        {
            index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = OciImage.OciIndexType, ["manifests"] = new JsonArray() };
        }

        var manifests = (JsonArray)index["manifests"]!;
        if (manifests.Any(m => m?["digest"]?.GetValueKind() == JsonValueKind.String && m["digest"]!.GetValue<string>() == artifact.Digest))
        {
            return;
        }

        var entry = OciImage.Descriptor(artifact);
        entry["artifactType"] = artifactType;
        entry["annotations"] = annotations.DeepClone();
        manifests.Add(entry);
        await registry.PutManifestAsync(tag, OciImage.OciIndexType, OciImage.Serialize(index), ct).ConfigureAwait(false);
    }
}
