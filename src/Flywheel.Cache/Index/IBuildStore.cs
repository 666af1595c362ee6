namespace Flywheel.Cache.Index;

/// <summary>The queue of Nix build requests, their leases and the history of their attempts.</summary>
public interface IBuildStore
{
    /// <summary>Stores a new build request; <see cref="CacheError.Conflict"/> when its id is taken.</summary>
    Task EnqueueBuildAsync(BuildRecord build, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the oldest queued build on one of <paramref name="lanes"/> for <paramref name="worker"/> (status running,
    /// started and heartbeat now, attempt + 1, held until <paramref name="leasedUntil"/>) and returns it; null when none
    /// waits. Exclusive: two workers never take the same build, across processes and machines too.
    /// </summary>
    Task<BuildRecord?> TakeBuildAsync(IReadOnlyCollection<string> lanes, string worker, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Renews the lease of a build that <paramref name="worker"/> holds (running, taken by it, attempt
    /// <paramref name="attempt"/>): heartbeat <paramref name="when"/>, held until <paramref name="leasedUntil"/>. False
    /// when it holds it no longer (its lease ended and the build was reclaimed, or it was finished).
    /// </summary>
    Task<bool> RenewBuildLeaseAsync(string id, string worker, int attempt, DateTimeOffset when, DateTimeOffset leasedUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Records that the attempt of a build <paramref name="worker"/> holds entered <paramref name="phase"/> at
    /// <paramref name="when"/> (for live progress); false when it holds it no longer.
    /// </summary>
    Task<bool> SetBuildPhaseAsync(string id, string worker, int attempt, string phase, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the attempt of a build that <paramref name="worker"/> holds (running, taken by it, the same attempt number):
    /// stores its new state (lane, reason, status, times, worker, outputs, log, error, lease) and records
    /// <paramref name="attempt"/> when given, in one transaction. <see cref="CacheError.Conflict"/> when the worker holds
    /// it no longer (nothing is written), <see cref="CacheError.NotFound"/> when there is no such build.
    /// </summary>
    Task FinishBuildAttemptAsync(BuildRecord build, string worker, BuildAttemptRecord? attempt, CancellationToken cancellationToken);

    /// <summary>
    /// Reclaims running builds whose lease ended before <paramref name="when"/> (their workers died): each is queued
    /// again with the attempt recorded as <see cref="BuildOutcome.Lost"/>, or ends with <see cref="BuildStatus.Lost"/>
    /// once <paramref name="maxLost"/> of its attempts were lost. Returns them in their new state, at most
    /// <see cref="BuildLeases.MaxReclaimedPerCall"/> per call. Safe to run from many workers at once.
    /// </summary>
    Task<IReadOnlyList<BuildRecord>> ReclaimExpiredBuildsAsync(DateTimeOffset when, int maxLost, CancellationToken cancellationToken);

    /// <summary>How many builds are queued and running, per lane (lanes with none are left out).</summary>
    Task<IReadOnlyList<BuildCount>> CountActiveBuildsAsync(CancellationToken cancellationToken);

    Task<BuildRecord?> GetBuildAsync(string id, CancellationToken cancellationToken);

    /// <summary>Builds matching the filters, newest request first.</summary>
    Task<IReadOnlyList<BuildRecord>> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Attempts of one build (<paramref name="buildId"/>) or of one installable, or all (both null); newest first, at most
    /// <paramref name="limit"/>.
    /// </summary>
    Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsAsync(string? buildId, string? installable, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// All attempts in pages, grouped by installable: ordered by installable, finish time, build and attempt, the
    /// <paramref name="limit"/> after <paramref name="after"/> (the last of the previous page; null: from the start).
    /// </summary>
    Task<IReadOnlyList<BuildAttemptRecord>> ListBuildAttemptsByInstallableAsync(BuildAttemptRecord? after, int limit, CancellationToken cancellationToken);
}
