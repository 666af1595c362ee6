namespace Flywheel.Cache.Index;

/// <summary>
/// Where a build request is: waiting for a worker, being built, or done (<see cref="Lost"/>: given up because the
/// workers that took it kept vanishing without finishing it).
/// </summary>
public enum BuildStatus
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Lost,
}

/// <summary>
/// How one attempt of a build ended; <see cref="OutOfMemory"/> is a kill for exceeding the lane's envelope (the
/// envelope's own evidence: the cgroup's oom_kill counter, or the sampler's kill), <see cref="TimedOut"/> a kill by
/// the worker because a phase ran past its time limit, <see cref="Lost"/> an attempt whose worker stopped renewing its
/// lease (it died or lost the index).
/// </summary>
public enum BuildOutcome
{
    Succeeded,
    Failed,
    OutOfMemory,
    Lost,
    TimedOut,
}

/// <summary>The words an outcome is stored, shown and labelled with: succeeded, failed, oom, lost, timeout.</summary>
public static class BuildOutcomes
{
    public static string Name(BuildOutcome outcome) => outcome switch
    {
        BuildOutcome.Succeeded => "succeeded",
        BuildOutcome.Failed => "failed",
        BuildOutcome.OutOfMemory => "oom",
        BuildOutcome.Lost => "lost",
        BuildOutcome.TimedOut => "timeout",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };

    public static BuildOutcome Parse(string text) => text switch
    {
        "succeeded" => BuildOutcome.Succeeded,
        "failed" => BuildOutcome.Failed,
        "oom" => BuildOutcome.OutOfMemory,
        "lost" => BuildOutcome.Lost,
        "timeout" => BuildOutcome.TimedOut,
        _ => throw new InvalidDataException($"unknown build outcome '{text}'"),
    };
}

/// <summary>A build request and its state (the queue entry and the record the API shows).</summary>
/// <param name="Installable">What to build: <c>FLAKEREF#ATTR</c>, or <c>FILE.nix#ATTR</c> for a Nix file.</param>
/// <param name="Lane">The lane it is queued on or ran on last.</param>
/// <param name="LaneReason">Why that lane: asked for, recommended from history (with the reasoning), or rerouted after an OOM kill.</param>
/// <param name="Attempt">How many attempts have started (0 while first queued).</param>
/// <param name="Outputs">The output store paths, once built.</param>
/// <param name="LogPath">The cache file path of the newest attempt's log (<c>log/&lt;drv&gt;</c>, or <see cref="AttemptLogPath"/> before evaluation), once stored.</param>
/// <param name="HeartbeatAt">When the worker running it last renewed its lease.</param>
/// <param name="LeasedUntil">While running: until when the worker holds it; after that another worker reclaims it.</param>
/// <param name="Phase">While running: the phase the attempt is in (bootstrap, evaluation, plan, build, upload).</param>
/// <param name="PhaseStartedAt">When that phase started.</param>
public sealed record BuildRecord(
    string Id,
    string Cache,
    string Installable,
    string Lane,
    string LaneReason,
    BuildStatus Status,
    int Attempt,
    DateTimeOffset RequestedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string? Worker,
    IReadOnlyList<string> Outputs,
    string? LogPath,
    string? Error,
    DateTimeOffset? HeartbeatAt = null,
    DateTimeOffset? LeasedUntil = null,
    string? Phase = null,
    DateTimeOffset? PhaseStartedAt = null)
{
    /// <summary>
    /// Where the log of the current attempt is kept when it has no derivation to file it under (it failed in bootstrap
    /// or evaluation): a cache file served at <c>/_api/v1/builds/{id}/log</c>. Logs of evaluated attempts live at
    /// <c>log/&lt;drv&gt;</c>, where Nix looks for them.
    /// </summary>
    public string AttemptLogPath => $"build-log/{Id}/{Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>One timed phase of an attempt (bootstrap, evaluation, build, upload).</summary>
public sealed record BuildPhase(string Name, TimeSpan Duration, bool Succeeded);

/// <summary>One run of a build on a lane, with what it cost; the history recommendations are computed from.</summary>
/// <param name="PeakMemoryBytes">The cgroup's peak, or the highest sampled process-tree RSS; null when unknown.</param>
/// <param name="MemoryLimit">How the envelope was enforced: <c>cgroup-v2</c>, <c>cgroup-v1</c>, or <c>none: &lt;reason&gt;</c>.</param>
/// <param name="BuiltPaths">Store paths built locally in the build phase.</param>
/// <param name="SubstitutedPaths">Store paths fetched from a substituter (the gateway) instead.</param>
public sealed record BuildAttemptRecord(
    string BuildId,
    int Attempt,
    string Installable,
    string Lane,
    BuildOutcome Outcome,
    int? ExitCode,
    long? PeakMemoryBytes,
    string MemoryLimit,
    int BuiltPaths,
    int SubstitutedPaths,
    IReadOnlyList<BuildPhase> Phases,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt);

/// <summary>Filters for listing builds (null: any), newest first, at most <paramref name="Limit"/>.</summary>
public sealed record BuildQuery(string? Cache = null, string? Installable = null, BuildStatus? Status = null, int Limit = 100);

/// <summary>How many builds of one lane are in one status.</summary>
public sealed record BuildCount(string Lane, BuildStatus Status, long Count);

/// <summary>A build worker seen serving a lane: its id (unique per process), the machine it runs on, and when it last polled.</summary>
public sealed record BuildWorkerRecord(string Worker, string Lane, string Host, DateTimeOffset LastSeen);
