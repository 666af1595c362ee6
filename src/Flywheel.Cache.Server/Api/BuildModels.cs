using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Server.Api;

/// <summary>POST /_api/v1/builds: what to build (<c>FLAKEREF#ATTR</c> or <c>FILE.nix#ATTR</c>), the cache to push to, and optionally a lane.</summary>
public sealed record BuildRequest(string? Installable, string? Cache, string? Lane = null);

/// <summary>
/// A build as the API shows it, with its attempts (newest first) and the link to its log. Status: queued, running,
/// succeeded, failed, or lost (given up: its workers kept vanishing); while running, the worker's last heartbeat, until
/// when it holds the build, and the phase the attempt is in since when.
/// </summary>
public sealed record BuildView(
    string Id, string Cache, string Installable, string Status, string Lane, string LaneReason, int Attempt,
    DateTimeOffset RequestedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Worker,
    IReadOnlyList<string> Outputs, string? Log, string? Error, IReadOnlyList<AttemptView> Attempts,
    DateTimeOffset? HeartbeatAt = null, DateTimeOffset? LeasedUntil = null, string? Phase = null, DateTimeOffset? PhaseStartedAt = null)
{
    /// <summary>Statuses a build does not leave.</summary>
    public static bool IsFinal(string status) => status is "succeeded" or "failed" or "lost";

    public static BuildView From(BuildRecord b, IReadOnlyList<BuildAttemptRecord> attempts) => new(
        b.Id, b.Cache, b.Installable, StatusText(b.Status), b.Lane, b.LaneReason, b.Attempt, b.RequestedAt, b.StartedAt, b.FinishedAt, b.Worker,
        b.Outputs, LogLink(b), b.Error, attempts.Select(AttemptView.From).ToList(), b.HeartbeatAt, b.LeasedUntil,
        b.Status == BuildStatus.Running ? b.Phase : null, b.Status == BuildStatus.Running ? b.PhaseStartedAt : null);

    /// <summary>Where the newest attempt's log is read: <c>/{cache}/log/{drv}</c> once evaluated, else <c>/_api/v1/builds/{id}/log</c>.</summary>
    public static string? LogLink(BuildRecord b) =>
        b.LogPath is null ? null
        : b.LogPath.StartsWith("log/", StringComparison.Ordinal) ? $"/{b.Cache}/{b.LogPath}"
        : $"/_api/v1/builds/{b.Id}/log";

    public static string StatusText(BuildStatus status) => status.ToString().ToLowerInvariant();

    public static BuildStatus ParseStatus(string text) =>
        Enum.TryParse<BuildStatus>(text, ignoreCase: true, out var status) && !int.TryParse(text, out _)
            ? status
            : throw CacheException.Invalid($"status is one of queued, running, succeeded, failed, lost, not '{text}'");
}

/// <summary>One attempt: lane, outcome, exit code, peak memory, how the envelope was enforced, paths built/substituted, phases in seconds.</summary>
public sealed record AttemptView(
    int Attempt, string Lane, string Outcome, int? ExitCode, long? PeakMemoryBytes, string MemoryLimit, int BuiltPaths, int SubstitutedPaths,
    IReadOnlyList<PhaseView> Phases, DateTimeOffset StartedAt, DateTimeOffset FinishedAt)
{
    public static AttemptView From(BuildAttemptRecord a) => new(
        a.Attempt, a.Lane, BuildOutcomes.Name(a.Outcome), a.ExitCode, a.PeakMemoryBytes,
        a.MemoryLimit, a.BuiltPaths, a.SubstitutedPaths, a.Phases.Select(p => new PhaseView(p.Name, Math.Round(p.Duration.TotalSeconds, 3), p.Succeeded)).ToList(),
        a.StartedAt, a.FinishedAt);
}

public sealed record PhaseView(string Name, double Seconds, bool Succeeded);

/// <summary>GET /_api/v1/lanes/recommendation: the lane and why.</summary>
public sealed record RecommendationView(string Installable, string Lane, long LaneMemoryBytes, string Explanation, long? PeakPercentileBytes, long? NeededBytes);

/// <summary>GET /_api/v1/lanes: a lane, its envelope, and the workers that polled for its builds within the live window (none: its builds wait).</summary>
public sealed record LaneView(string Name, int Cpus, long MemoryBytes, int Concurrency, string RunnerLabel, IReadOnlyList<LaneWorkerView> Workers)
{
    public static LaneView From(LaneWorkers l) => new(
        l.Lane.Name, l.Lane.Cpus, l.Lane.MemoryBytes, l.Lane.Concurrency, l.Lane.RunnerLabel,
        l.Workers.Select(w => new LaneWorkerView(w.Worker, w.Host, w.LastSeen)).ToList());
}

/// <summary>A live worker: its id, the machine it runs on, when it last polled.</summary>
public sealed record LaneWorkerView(string Id, string Host, DateTimeOffset LastSeen);
