namespace Flywheel.Cache.Index;

/// <summary>
/// What becomes of a running build whose lease ended (its worker died or lost the index): the attempt is recorded
/// as lost, and the build is queued again on its lane, or given up (<see cref="BuildStatus.Lost"/>) once
/// <c>maxLost</c> of its attempts were lost. Both index dialects apply this.
/// </summary>
public static class BuildLeases
{
    /// <summary>The most builds one reclaim handles (the rest wait for the next one).</summary>
    public const int MaxReclaimedPerCall = 100;

    public const string LostMemoryLimit = "unknown: the attempt was lost";

    /// <param name="expired">The running build as stored.</param>
    /// <param name="lostBefore">How many of its attempts were lost before this one.</param>
    public static (BuildRecord Build, BuildAttemptRecord Attempt) Reclaim(BuildRecord expired, int lostBefore, int maxLost, DateTimeOffset when)
    {
        ArgumentNullException.ThrowIfNull(expired);
        var giveUp = lostBefore + 1 >= maxLost;
        var what = $"attempt {expired.Attempt} on {expired.Lane} was lost: worker {expired.Worker ?? "?"} stopped renewing its lease " +
            $"(last heartbeat {Time(expired.HeartbeatAt)}, lease ended {Time(expired.LeasedUntil)})";
        var build = expired with
        {
            Status = giveUp ? BuildStatus.Lost : BuildStatus.Queued,
            FinishedAt = giveUp ? when : null,
            LeasedUntil = null,
            Phase = null,
            PhaseStartedAt = null,
            Error = giveUp ? $"{what}; given up after {lostBefore + 1} lost attempt(s)" : $"{what}; queued again",
        };
        var attempt = new BuildAttemptRecord(
            expired.Id, expired.Attempt, expired.Installable, expired.Lane, BuildOutcome.Lost, ExitCode: null, PeakMemoryBytes: null,
            LostMemoryLimit, BuiltPaths: 0, SubstitutedPaths: 0, Phases: [], StartedAt: expired.StartedAt ?? when, FinishedAt: when);
        return (build, attempt);
    }

    /// <summary>Why <paramref name="worker"/> may not finish <paramref name="build"/>: how it stands now.</summary>
    public static string NotHeld(BuildRecord build, string worker, BuildRecord stored)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(stored);
        return $"worker {worker} no longer holds build '{build.Id}' (attempt {build.Attempt}): it is {BuildRows.Status(stored.Status)}, " +
            $"attempt {stored.Attempt}, worker {stored.Worker ?? "none"}; its lease ended and the build was reclaimed";
    }

    private static string Time(DateTimeOffset? time) => time is { } t ? t.ToString("u", System.Globalization.CultureInfo.InvariantCulture) : "never";
}
