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
/// NARs once to learn its digest and once while it is pushed), its manifest gets the annotations
/// <c>org.opencontainers.image.source</c>, <c>.revision</c> and <c>.created</c> and is put under the target's tag, and
/// the provenance statement is pushed as an artifact whose <c>subject</c> is the image (the referrers API), or, when
/// the registry ignores subjects, tagged <c>sha256-&lt;digest&gt;.att</c> as well (the tag schema fallback).
/// </summary>
public sealed class OciPublisher(NarSource nars, HttpClient http, long chunkBytes = RegistryClient.DefaultChunkBytes) : IPromotionPublisher
{
    private const string EmptyConfigType = "application/vnd.oci.empty.v1+json";
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

        var manifest = Annotate(image.Manifest, job);
        var (digest, _) = await registry.PutManifestAsync(job.Target.Tag, image.ManifestMediaType, manifest, ct).ConfigureAwait(false);
        var reference = $"{job.Target.Registry}/{job.Target.Repository}@{digest}";
        var subjects = new List<ProvenanceSubject>
        {
            new($"{job.Target.Registry}/{job.Target.Repository}:{job.Target.Tag}", digest["sha256:".Length..]),
        };
        var statement = job.Provenance(subjects);
        var attached = await AttachAsync(registry, statement, new OciDescriptor(image.ManifestMediaType, digest, manifest.Length), ct).ConfigureAwait(false);
        return new Publication(reference, subjects, statement, attached, new Dictionary<string, string>
        {
            ["manifestDigest"] = digest,
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

    /// <summary>The manifest with the source, revision and creation annotations added (the promotion's time: retries give the same digest).</summary>
    internal static byte[] Annotate(byte[] manifest, PublishJob job)
    {
        var node = JsonNode.Parse(manifest)!.AsObject();
        var annotations = node["annotations"] as JsonObject ?? new JsonObject();
        if (job.Request.Repository is not null)
        {
            annotations["org.opencontainers.image.source"] = job.Request.Repository;
        }

        if (job.Request.Revision is not null)
        {
            annotations["org.opencontainers.image.revision"] = job.Request.Revision;
        }

        annotations["org.opencontainers.image.created"] = job.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        node["annotations"] = annotations;
        return JsonSerializer.SerializeToUtf8Bytes(node);
    }

    /// <summary>Pushes the statement as an artifact of the image; returns the reference it can be found under.</summary>
    private static async Task<string> AttachAsync(RegistryClient registry, byte[] statement, OciDescriptor subject, CancellationToken ct)
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

        var manifest = JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciImage.OciManifestType,
            ["artifactType"] = ProvenanceStatement.MediaType,
            ["config"] = OciImage.Descriptor(new(EmptyConfigType, configDigest, EmptyConfig.Length)),
            ["layers"] = new JsonArray(OciImage.Descriptor(new(ProvenanceStatement.MediaType, statementDigest, statement.Length))),
            ["subject"] = OciImage.Descriptor(subject),
            ["annotations"] = new JsonObject { ["in-toto.io/predicate-type"] = ProvenanceStatement.PredicateType },
        });
        var digestReference = "sha256:" + BlobDigest.Compute(manifest).ToHex();
        var (digest2, subjectAccepted) = await registry.PutManifestAsync(digestReference, OciImage.OciManifestType, manifest, ct).ConfigureAwait(false);
        if (subjectAccepted)
        {
            return $"{registry.Repository}@{digest2} (referrer of {subject.Digest})";
        }

        var fallbackTag = "sha256-" + subject.Digest["sha256:".Length..] + ".att";
        await registry.PutManifestAsync(fallbackTag, OciImage.OciManifestType, manifest, ct).ConfigureAwait(false);
        return $"{registry.Repository}:{fallbackTag}";
    }
}
