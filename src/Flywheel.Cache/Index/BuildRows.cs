using System.Data.Common;
using System.Globalization;
using System.Text;

namespace Flywheel.Cache.Index;

/// <summary>
/// Build rows as both dialects read and write them (the SQL is the same text): statuses and outcomes as lower-case
/// words, outputs as one store path per line, phases as one "name milliseconds ok|failed" per line.
/// </summary>
internal static class BuildRows
{
    public const string BuildColumns =
        "id, cache_name, installable, lane, lane_reason, status, attempt, requested_at, started_at, finished_at, worker, outputs, log_path, error, heartbeat_at, leased_until, phase, phase_started_at";

    /// <summary>Reads a build_workers row: worker, lane, host, last_seen.</summary>
    public static BuildWorkerRecord Worker(DbDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), IndexRows.FromUnix(r.GetInt64(3)));

    /// <summary>How many columns <see cref="BuildColumns"/> names.</summary>
    public const int BuildColumnCount = 18;

    public const string AttemptColumns =
        "build_id, attempt, installable, lane, outcome, exit_code, peak_memory_bytes, memory_limit, built_paths, substituted_paths, phases, started_at, finished_at";

    public static string Status(BuildStatus status) => status switch
    {
        BuildStatus.Queued => "queued",
        BuildStatus.Running => "running",
        BuildStatus.Succeeded => "succeeded",
        BuildStatus.Failed => "failed",
        BuildStatus.Lost => "lost",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    public static BuildStatus ParseStatus(string text) => text switch
    {
        "queued" => BuildStatus.Queued,
        "running" => BuildStatus.Running,
        "succeeded" => BuildStatus.Succeeded,
        "failed" => BuildStatus.Failed,
        "lost" => BuildStatus.Lost,
        _ => throw new InvalidDataException($"unknown build status '{text}'"),
    };

    public static string Lines(IReadOnlyList<string> lines) => string.Join('\n', lines);

    public static IReadOnlyList<string> ParseLines(string text) =>
        text.Length == 0 ? [] : text.Split('\n');

    public static string Phases(IReadOnlyList<BuildPhase> phases)
    {
        var text = new StringBuilder();
        foreach (var phase in phases)
        {
            if (phase.Name.Contains(' ', StringComparison.Ordinal) || phase.Name.Contains('\n', StringComparison.Ordinal))
            {
                throw new ArgumentException($"a phase name has no spaces: '{phase.Name}'", nameof(phases));
            }

            if (text.Length > 0)
            {
                text.Append('\n');
            }

            text.Append(phase.Name).Append(' ')
                .Append(((long)phase.Duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Append(' ')
                .Append(phase.Succeeded ? "ok" : "failed");
        }

        return text.ToString();
    }

    public static IReadOnlyList<BuildPhase> ParsePhases(string text)
    {
        var phases = new List<BuildPhase>();
        foreach (var line in ParseLines(text))
        {
            var parts = line.Split(' ');
            if (parts.Length != 3 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            {
                throw new InvalidDataException($"a stored build phase is malformed: '{line}'");
            }

            phases.Add(new BuildPhase(parts[0], TimeSpan.FromMilliseconds(ms), parts[2] == "ok"));
        }

        return phases;
    }

    /// <summary>Reads <see cref="BuildColumns"/> in order.</summary>
    public static BuildRecord Build(DbDataReader r) => new(
        Id: r.GetString(0),
        Cache: r.GetString(1),
        Installable: r.GetString(2),
        Lane: r.GetString(3),
        LaneReason: r.GetString(4),
        Status: ParseStatus(r.GetString(5)),
        Attempt: r.GetInt32(6),
        RequestedAt: IndexRows.FromUnix(r.GetInt64(7)),
        StartedAt: r.IsDBNull(8) ? null : IndexRows.FromUnix(r.GetInt64(8)),
        FinishedAt: r.IsDBNull(9) ? null : IndexRows.FromUnix(r.GetInt64(9)),
        Worker: r.IsDBNull(10) ? null : r.GetString(10),
        Outputs: ParseLines(r.GetString(11)),
        LogPath: r.IsDBNull(12) ? null : r.GetString(12),
        Error: r.IsDBNull(13) ? null : r.GetString(13),
        HeartbeatAt: r.IsDBNull(14) ? null : IndexRows.FromUnix(r.GetInt64(14)),
        LeasedUntil: r.IsDBNull(15) ? null : IndexRows.FromUnix(r.GetInt64(15)),
        Phase: r.IsDBNull(16) ? null : r.GetString(16),
        PhaseStartedAt: r.IsDBNull(17) ? null : IndexRows.FromUnix(r.GetInt64(17)));

    /// <summary>Reads <see cref="AttemptColumns"/> in order.</summary>
    public static BuildAttemptRecord Attempt(DbDataReader r) => new(
        BuildId: r.GetString(0),
        Attempt: r.GetInt32(1),
        Installable: r.GetString(2),
        Lane: r.GetString(3),
        Outcome: BuildOutcomes.Parse(r.GetString(4)),
        ExitCode: r.IsDBNull(5) ? null : r.GetInt32(5),
        PeakMemoryBytes: r.IsDBNull(6) ? null : r.GetInt64(6),
        MemoryLimit: r.GetString(7),
        BuiltPaths: r.GetInt32(8),
        SubstitutedPaths: r.GetInt32(9),
        Phases: ParsePhases(r.GetString(10)),
        StartedAt: IndexRows.FromUnix(r.GetInt64(11)),
        FinishedAt: IndexRows.FromUnix(r.GetInt64(12)));

    /// <summary>Binds the values of <see cref="BuildColumns"/> in order.</summary>
    public static IndexCommand AddBuild(this IndexCommand c, BuildRecord b) => c
        .Add(b.Id).Add(b.Cache).Add(b.Installable).Add(b.Lane).Add(b.LaneReason).Add(Status(b.Status)).Add(b.Attempt)
        .Add(b.RequestedAt).AddNullable(b.StartedAt).AddNullable(b.FinishedAt).AddNullable(b.Worker).Add(Lines(b.Outputs))
        .AddNullable(b.LogPath).AddNullable(b.Error).AddNullable(b.HeartbeatAt).AddNullable(b.LeasedUntil).AddNullable(b.Phase).AddNullable(b.PhaseStartedAt);

    /// <summary>Binds the values of <see cref="AttemptColumns"/> in order.</summary>
    public static IndexCommand AddAttempt(this IndexCommand c, BuildAttemptRecord a) => c
        .Add(a.BuildId).Add(a.Attempt).Add(a.Installable).Add(a.Lane).Add(BuildOutcomes.Name(a.Outcome)).AddNullable(a.ExitCode)
        .AddNullable(a.PeakMemoryBytes).Add(a.MemoryLimit).Add(a.BuiltPaths).Add(a.SubstitutedPaths).Add(Phases(a.Phases))
        .Add(a.StartedAt).Add(a.FinishedAt);
}
