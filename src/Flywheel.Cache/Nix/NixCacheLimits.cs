namespace Flywheel.Cache.Nix;

/// <summary>Upload size limits of the Nix binary cache, in bytes.</summary>
public sealed record NixCacheLimits(long MaxNarInfoBytes, long MaxNarBytes, long MaxFileBytes)
{
    public static NixCacheLimits Default { get; } = new(64 * 1024, 64L * 1024 * 1024 * 1024, 256L * 1024 * 1024);
}
