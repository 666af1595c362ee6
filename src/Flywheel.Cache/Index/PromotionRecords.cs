namespace Flywheel.Cache.Index;

/// <summary>
/// The audit record of one promotion. The index stores the JSON documents as text and queries the plain columns;
/// what the documents hold is the promotion gate's business (see <c>Promotion/</c>).
/// </summary>
/// <param name="Id">Derived from the request, so the same request names the same promotion.</param>
/// <param name="Status">Where the promotion is: e.g. rejected, publishing, published, failed.</param>
/// <param name="Class">What the gate found: mutable, oci-image, clean-derivation or rejected.</param>
/// <param name="Request">The request as JSON, without credentials.</param>
/// <param name="Decision">Every rule's result and the reasons, as JSON.</param>
/// <param name="Provenance">The in-toto statement, as JSON; null until one was written.</param>
/// <param name="Publication">Where it was published (references, digests), as JSON; null until then.</param>
/// <param name="Error">Why publishing failed, when it did.</param>
public sealed record PromotionRecord(
    string Id,
    long CacheId,
    string Status,
    string Class,
    string? Target,
    string? Repository,
    string? Revision,
    string Request,
    string Decision,
    string? Provenance,
    string? Publication,
    string? Error,
    IReadOnlyList<PromotedPath> Paths,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A store path named by a promotion.</summary>
public sealed record PromotedPath(string StorePathHash, string StorePath);

/// <summary>Which promotions to list: every given filter must match; newest first, at most <see cref="Limit"/>.</summary>
/// <param name="CreatedBefore">Only promotions created strictly before this time (for paging).</param>
public sealed record PromotionQuery(
    long? CacheId = null,
    string? Status = null,
    string? Class = null,
    string? Repository = null,
    string? Revision = null,
    string? StorePathHash = null,
    DateTimeOffset? CreatedBefore = null,
    int Limit = 100);
