namespace Flywheel.Cache.Promotion;

/// <summary>What the gate makes of an output.</summary>
public enum PromotionClass
{
    /// <summary>An ordinary build output with nowhere to go: it stays in the cache, nothing is published.</summary>
    Mutable,

    /// <summary>An OCI image (layout directory, docker-archive tarball, nix2container JSON): published to an OCI registry.</summary>
    OciImage,

    /// <summary>An output that passes every rule its class requires: published through the FlakeHub adapter.</summary>
    CleanDerivation,

    /// <summary>A required rule failed; every failed rule is named in the decision.</summary>
    Rejected,
}

/// <summary>The wire names of <see cref="PromotionClass"/> (policy files, API, audit records).</summary>
public static class PromotionClasses
{
    public static string ToName(this PromotionClass value) => value switch
    {
        PromotionClass.Mutable => "mutable",
        PromotionClass.OciImage => "oci-image",
        PromotionClass.CleanDerivation => "clean-derivation",
        PromotionClass.Rejected => "rejected",
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    public static bool TryParse(string? name, out PromotionClass value)
    {
        foreach (var candidate in Enum.GetValues<PromotionClass>())
        {
            if (candidate.ToName() == name)
            {
                value = candidate;
                return true;
            }
        }

        value = default;
        return false;
    }
}
