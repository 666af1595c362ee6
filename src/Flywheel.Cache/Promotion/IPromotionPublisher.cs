using Flywheel.Cache.Caches;

namespace Flywheel.Cache.Promotion;

/// <summary>Publishes accepted promotions of one class: the OCI registry client, the FlakeHub adapter.</summary>
public interface IPromotionPublisher
{
    PromotionClass Class { get; }

    /// <summary>Publishes; throws <see cref="CacheException"/> when the target refuses or fails (the promotion is then marked failed).</summary>
    Task<Publication> PublishAsync(PublishJob job, CancellationToken cancellationToken);
}

/// <summary>What a publisher gets: the promotion, where to, the evidence, and how to write the provenance statement.</summary>
/// <param name="Provenance">Makes the statement for the subjects the publisher produced.</param>
/// <param name="MountFrom">Repositories of the same registry that earlier promotions pushed to (for cross-repo mounts).</param>
/// <param name="Annotations">The policy's annotations for the published image (empty: publish it as built).</param>
/// <param name="Flake">The flake source as Nix read it, when the request named one (a FlakeHub release).</param>
public sealed record PublishJob(
    string PromotionId,
    CacheContext Cache,
    PromotionTarget Target,
    PromotionRequest Request,
    IReadOnlyList<PathEvidence> Paths,
    DateTimeOffset CreatedAt,
    Func<IReadOnlyList<ProvenanceSubject>, byte[]> Provenance,
    IReadOnlyList<string> MountFrom,
    IReadOnlyDictionary<string, string> Annotations,
    FlakeHub.InspectedFlake? Flake = null);

/// <summary>Where a promotion went: a reference people can pull, the digests, and the provenance (and where it was attached).</summary>
public sealed record Publication(
    string Reference,
    IReadOnlyList<ProvenanceSubject> Subjects,
    byte[] Provenance,
    string? ProvenanceReference,
    IReadOnlyDictionary<string, string> Details);
