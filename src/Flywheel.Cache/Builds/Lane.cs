namespace Flywheel.Cache.Builds;

/// <summary>
/// A runner lane: where builds run, with the CPU and memory envelope of its runner pods, how many builds one worker
/// runs at once, and the runner label it corresponds to.
/// </summary>
public sealed record Lane(string Name, int Cpus, long MemoryBytes, int Concurrency, string RunnerLabel)
{
    /// <summary>The platform's lanes: <c>tinyland-nix</c> (4 CPU, 8 GiB) and <c>tinyland-nix-heavy</c> (8 CPU, 16 GiB).</summary>
    public static IReadOnlyList<Lane> Defaults { get; } =
    [
        new("tinyland-nix", 4, 8L << 30, 1, "tinyland-nix"),
        new("tinyland-nix-heavy", 8, 16L << 30, 1, "tinyland-nix-heavy"),
    ];

    public override string ToString() => $"{Name} ({Cpus} CPU, {MemoryBytes / (1024.0 * 1024):0.#} MiB)";
}
