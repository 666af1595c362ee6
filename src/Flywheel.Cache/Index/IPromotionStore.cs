namespace Flywheel.Cache.Index;

/// <summary>Audit records of the promotion gate.</summary>
public interface IPromotionStore
{
    /// <summary>Records a new promotion with its paths; false (and nothing written) when one with its id exists.</summary>
    Task<bool> TryCreatePromotionAsync(PromotionRecord promotion, CancellationToken cancellationToken);

    Task<PromotionRecord?> GetPromotionAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the mutable fields (status, class, decision, provenance, publication, error, updated time) of a
    /// promotion whose status is still <paramref name="expectedStatus"/>; false when it is not (another gateway
    /// moved it on), so that one caller at a time can claim a promotion for publishing.
    /// </summary>
    Task<bool> TryUpdatePromotionAsync(PromotionRecord promotion, string expectedStatus, CancellationToken cancellationToken);

    Task<IReadOnlyList<PromotionRecord>> ListPromotionsAsync(PromotionQuery query, CancellationToken cancellationToken);
}
