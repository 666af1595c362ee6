namespace Flywheel.Cache.Promotion;

/// <summary>The statuses a promotion record goes through.</summary>
public static class PromotionStatus
{
    /// <summary>A required rule failed; nothing was published.</summary>
    public const string Rejected = "rejected";

    /// <summary>Nothing to publish to (class mutable).</summary>
    public const string Kept = "kept";

    /// <summary>A dry run found the output promotable.</summary>
    public const string WouldPublish = "would-publish";

    /// <summary>Claimed by a gateway that is publishing it now.</summary>
    public const string Publishing = "publishing";

    public const string Published = "published";

    /// <summary>Publishing failed; the same request again retries it.</summary>
    public const string Failed = "failed";
}
