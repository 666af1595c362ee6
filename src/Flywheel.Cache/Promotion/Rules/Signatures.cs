using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Rules;

/// <summary>Which of the given keys validly signed a narinfo (its fingerprint covers path, NarHash, size and references).</summary>
internal static class Signatures
{
    public static IReadOnlyList<NixPublicKey> TrustedSigners(NarInfo info, IReadOnlyList<NixPublicKey> keys)
    {
        var fingerprint = info.Fingerprint();
        var found = new List<NixPublicKey>();
        foreach (var key in keys)
        {
            if (!found.Contains(key) && info.Sigs.Any(sig => key.Verify(fingerprint, sig)))
            {
                found.Add(key);
            }
        }

        return found;
    }
}
