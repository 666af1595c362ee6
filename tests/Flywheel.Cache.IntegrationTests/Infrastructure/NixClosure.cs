namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>What <see cref="NixEnvironment.BuildClosureAsync"/> built. Every store path name carries <see cref="Nonce"/>.</summary>
/// <param name="Outputs">The four output paths, top first: top, middle, large, leaf.</param>
/// <param name="Closure">The full closure of <paramref name="Top"/> (<c>nix-store -qR</c>), which is all four outputs.</param>
/// <param name="Derivations">The .drv paths that produced them (also created by the build, deleted on dispose).</param>
public sealed record NixClosure(
    string Nonce,
    IReadOnlyList<string> Outputs,
    IReadOnlyList<string> Closure,
    IReadOnlyList<string> Derivations)
{
    /// <summary>A directory with an executable <c>bin/top</c> whose text references <see cref="Middle"/> and <see cref="Large"/>.</summary>
    public string Top => Outputs[0];

    /// <summary>A directory with a file naming <see cref="Leaf"/> and a symlink to it.</summary>
    public string Middle => Outputs[1];

    /// <summary>A single file of a few MiB of random bytes (incompressible), to exercise streaming.</summary>
    public string Large => Outputs[2];

    /// <summary>A single small regular file with no references.</summary>
    public string Leaf => Outputs[3];

    /// <summary>Store path hash part (the 32 characters after /nix/store/), as used in <c>&lt;hash&gt;.narinfo</c>.</summary>
    public static string HashPart(string storePath) => Path.GetFileName(storePath)[..32];
}
