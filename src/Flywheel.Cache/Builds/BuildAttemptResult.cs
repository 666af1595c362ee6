using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>What one attempt of a build did and cost.</summary>
/// <param name="Derivation">The .drv store path, once evaluated.</param>
/// <param name="LogFile">The attempt's log on local disk (standard error of every phase).</param>
public sealed record BuildAttemptResult(
    BuildOutcome Outcome,
    int? ExitCode,
    IReadOnlyList<BuildPhase> Phases,
    IReadOnlyList<string> Outputs,
    string? Derivation,
    long? PeakMemoryBytes,
    string MemoryLimit,
    int BuiltPaths,
    int SubstitutedPaths,
    string LogFile,
    string? Error);
