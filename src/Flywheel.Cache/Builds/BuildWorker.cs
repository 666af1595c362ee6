using Flywheel.Cache.Index;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Builds;

/// <summary>
/// Takes builds of its lanes from the queue and runs them. A build it takes is leased to it for <c>lease</c> and the
/// lease is renewed every third of that while the build runs; a build whose worker died keeps "running" only until its
/// lease ends, then the next worker that looks reclaims it (queued again, the attempt recorded as lost; given up after
/// <see cref="BuildAttemptPolicy.MaxLostAttempts"/>). What follows an attempt is <see cref="BuildAttemptPolicy"/>'s: an attempt killed
/// for memory is retried once on the next larger lane (queued there, so a worker of that lane takes it); every attempt is recorded as history of the installable. Each poll is recorded
/// in the index as the worker's heartbeat on its lanes (<see cref="IBuildWorkerStore.RecordBuildWorkerAsync"/>).
/// </summary>
public sealed class BuildWorker(
    IBuildStore builds, IBuildWorkerStore workers, ICacheStore caches, LaneSet lanes, IReadOnlyList<string> laneNames, string name, NixBuildRunner runner, string workDirectory,
    TimeSpan lease, IBuildMetrics metrics, TimeProvider time, ILogger logger)
{
    /// <summary>How often a worker with nothing to take looks at the queue again (and records that it is alive).</summary>
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);

    private const int AttemptsPerBuild = 100;

    /// <summary>How long a worker that stopped polling is remembered in the index before the next worker forgets it.</summary>
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);

    private DateTimeOffset _lastSeen = DateTimeOffset.MinValue;

    public string Name => name;

    /// <summary>
    /// Runs builds until cancelled: up to each lane's <see cref="Lane.Concurrency"/> at once, taking another whenever a
    /// lane has a free slot, and polling the queue every <paramref name="poll"/> while nothing can be taken. A build whose
    /// handling fails in the worker itself (the index unreachable when finishing) is logged; its lease then ends and
    /// another worker reclaims it.
    /// </summary>
    public async Task RunAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        RemoveLeftoverCgroups();
        var running = new Dictionary<Task, string>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await ReportAliveAsync(poll, cancellationToken).ConfigureAwait(false);
                var free = laneNames.Where(l => running.Values.Count(r => r == l) < lanes.Get(l).Concurrency).ToArray();
                if (free.Length > 0 && await TakeAsync(free, cancellationToken).ConfigureAwait(false) is { } build)
                {
                    running.Add(RunHeldAsync(build, cancellationToken), build.Lane);
                    continue; // the queue may hold more for the free slots
                }

                await Task.WhenAny(running.Keys.Append(Task.Delay(poll, time, cancellationToken))).ConfigureAwait(false);
                foreach (var done in running.Keys.Where(t => t.IsCompleted).ToList())
                {
                    running.Remove(done);
                    if (done.Exception is { } e)
                    {
                        logger.LogError(e.InnerException ?? e, "A build failed in worker {Worker}; its lease will end and another worker reclaims it", name);
                    }
                }
            }
        }
        finally
        {
            foreach (var task in running.Keys)
            {
                try
                {
                    await task.ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // stopping: the build ended its lease for another worker to reclaim
                }
                catch (Exception e)
                {
                    logger.LogError(e, "A build failed in worker {Worker} while it stopped", name);
                }
            }

            await ForgetSelfAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Records in the index, at most once per <paramref name="poll"/>, that this worker serves its lanes (also while
    /// they are busy), so that gateways can tell a lane without workers. Failing to record it does not stop the worker.
    /// </summary>
    private async Task ReportAliveAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        var now = Now();
        if (now - _lastSeen < poll)
        {
            return;
        }

        try
        {
            await workers.RecordBuildWorkerAsync(name, Environment.MachineName, laneNames, now, now - ForgetAfter, cancellationToken).ConfigureAwait(false);
            _lastSeen = now;
        }
        catch (CacheException e) when (e.Error == CacheError.Unavailable)
        {
            logger.LogWarning(e, "Worker {Worker}: recording that it polled failed; trying again at the next poll", name);
        }
    }

    /// <summary>Removes this worker from the index's live workers as it stops.</summary>
    private async Task ForgetSelfAsync()
    {
        try
        {
            await workers.RemoveBuildWorkerAsync(name, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CacheException e) when (e.Error == CacheError.Unavailable)
        {
            logger.LogWarning(e, "Worker {Worker}: removing it from the live workers failed; it drops out once its last poll is older than the live window", name);
        }
    }

    /// <summary>Reclaims builds of dead workers, then takes the oldest queued build of <paramref name="free"/>; null when none waits.</summary>
    private async Task<BuildRecord?> TakeAsync(IReadOnlyCollection<string> free, CancellationToken cancellationToken)
    {
        await ReclaimExpiredAsync(cancellationToken).ConfigureAwait(false);
        var now = Now();
        return await builds.TakeBuildAsync(free, name, now, now + lease, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes the empty build cgroups a crashed worker left behind (only groups named the way ours are).</summary>
    private void RemoveLeftoverCgroups()
    {
        var (removed, busy) = MemoryEnvelopes.RemoveLeftovers();
        if (removed.Count > 0)
        {
            logger.LogInformation("Worker {Worker} removed {Count} leftover build cgroup(s): {Groups}", name, removed.Count, string.Join(", ", removed));
        }

        if (busy.Count > 0)
        {
            logger.LogInformation("Worker {Worker} left {Count} build cgroup(s) that still hold processes: {Groups}", name, busy.Count, string.Join(", ", busy));
        }
    }

    private async Task ReclaimExpiredAsync(CancellationToken cancellationToken)
    {
        foreach (var reclaimed in await builds.ReclaimExpiredBuildsAsync(Now(), BuildAttemptPolicy.MaxLostAttempts, cancellationToken).ConfigureAwait(false))
        {
            logger.LogWarning("Build {Build} reclaimed by {Worker}: {Error}", reclaimed.Id, name, reclaimed.Error);
            metrics.RecordBuildOutcome(reclaimed.Lane, BuildOutcome.Lost);
        }
    }

    /// <summary>Runs a build this worker took, renewing its lease meanwhile; stops it when the lease is lost.</summary>
    private async Task RunHeldAsync(BuildRecord build, CancellationToken stopping)
    {
        using var held = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var heartbeat = HeartbeatAsync(build, held);
        try
        {
            await AttemptAsync(build, held.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            logger.LogWarning("Build {Build}: {Worker} lost its lease on attempt {Attempt} and stopped it", build.Id, name, build.Attempt);
        }
        catch (OperationCanceledException)
        {
            // stopping: end the lease now, so that the next worker reclaims the build at once instead of after the lease
            await builds.RenewBuildLeaseAsync(build.Id, name, build.Attempt, Now(), Now(), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        finally
        {
            await held.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
        }
    }

    /// <summary>Renews the lease every third of its length until <paramref name="held"/> is cancelled; cancels it when the lease is lost.</summary>
    private async Task HeartbeatAsync(BuildRecord build, CancellationTokenSource held)
    {
        try
        {
            while (true)
            {
                await Task.Delay(lease / 3, time, held.Token).ConfigureAwait(false);
                bool holds;
                try
                {
                    var now = Now();
                    holds = await builds.RenewBuildLeaseAsync(build.Id, name, build.Attempt, now, now + lease, held.Token).ConfigureAwait(false);
                }
                catch (CacheException e) when (e.Error == CacheError.Unavailable)
                {
                    logger.LogWarning(e, "Build {Build}: renewing the lease failed; trying again", build.Id);
                    continue;
                }

                if (!holds)
                {
                    await held.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (held.IsCancellationRequested)
        {
            // the attempt ended (or the worker stops)
        }
    }

    private async Task AttemptAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        var lane = lanes.Get(build.Lane);
        logger.LogInformation("Build {Build} of {Installable}: attempt {Attempt} on lane {Lane} by {Worker}", build.Id, build.Installable, build.Attempt, lane.Name, name);
        var cache = await caches.GetCacheAsync(build.Cache, cancellationToken).ConfigureAwait(false);
        if (cache is null)
        {
            await FinishAsync(build with { Status = BuildStatus.Failed, FinishedAt = Now(), LeasedUntil = null, Error = $"the cache '{build.Cache}' no longer exists" }, null)
                .ConfigureAwait(false);
            return;
        }

        var directory = Path.Combine(workDirectory, $"{build.Id}-{build.Attempt}");
        var started = Now();
        try
        {
            var result = await runner.RunAsync(build, lane, cache.PublicKey, directory, cancellationToken, (phase, ct) => ShowPhaseAsync(build, phase, ct))
                .ConfigureAwait(false);
            var attempt = new BuildAttemptRecord(
                build.Id, build.Attempt, build.Installable, lane.Name, result.Outcome, result.ExitCode, result.PeakMemoryBytes, result.MemoryLimit,
                result.BuiltPaths, result.SubstitutedPaths, result.Phases, started, Now());

            var logPath = await runner.UploadLogAsync(build, result.Derivation, result.LogFile, cancellationToken).ConfigureAwait(false);
            var earlier = await EarlierAttemptsAsync(build, result, cancellationToken).ConfigureAwait(false);
            var (updated, next) = BuildAttemptPolicy.After(build, lane, result, earlier, lanes, logPath, Now());
            await FinishAsync(updated, attempt).ConfigureAwait(false);
            metrics.RecordBuildAttempt(attempt);
            if (next is not null)
            {
                metrics.RecordOomReroute(lane.Name, next.Name);
            }
            logger.LogInformation("Build {Build}: attempt {Attempt} on {Lane} ended {Outcome}{Next}", build.Id, build.Attempt, lane.Name, result.Outcome,
                next is null ? "" : $", rerouted to {next.Name}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Build {Build} failed in the worker", build.Id);
            await FinishAsync(
                build with { Status = BuildStatus.Failed, FinishedAt = Now(), LeasedUntil = null, Error = "the worker failed: " + e.Message },
                new BuildAttemptRecord(build.Id, build.Attempt, build.Installable, lane.Name, BuildOutcome.Failed, null, null, "unknown: the worker failed",
                    0, 0, [], started, Now())).ConfigureAwait(false);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    /// <summary>Records the phase the attempt entered, for live progress; progress is not worth failing a build over.</summary>
    private async Task ShowPhaseAsync(BuildRecord build, string phase, CancellationToken cancellationToken)
    {
        try
        {
            await builds.SetBuildPhaseAsync(build.Id, name, build.Attempt, phase, Now(), cancellationToken).ConfigureAwait(false);
        }
        catch (CacheException e) when (e.Error == CacheError.Unavailable)
        {
            logger.LogWarning(e, "Build {Build}: recording phase {Phase} failed", build.Id, phase);
        }
    }

    /// <summary>The build's attempts recorded before this one; the policy asks about them only after an OOM kill (rerouted once already?).</summary>
    private async Task<IReadOnlyList<BuildAttemptRecord>> EarlierAttemptsAsync(BuildRecord build, BuildAttemptResult result, CancellationToken cancellationToken) =>
        result.Outcome == BuildOutcome.OutOfMemory
            ? await builds.ListBuildAttemptsAsync(build.Id, null, AttemptsPerBuild, cancellationToken).ConfigureAwait(false)
            : [];

    /// <summary>Stores the attempt's end, unless the build was reclaimed meanwhile (then another worker owns it and this result is dropped).</summary>
    private async Task FinishAsync(BuildRecord updated, BuildAttemptRecord? attempt)
    {
        try
        {
            await builds.FinishBuildAttemptAsync(updated, name, attempt, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CacheException e) when (e.Error == CacheError.Conflict)
        {
            logger.LogWarning("Build {Build}: the result of attempt {Attempt} is dropped: {Reason}", updated.Id, updated.Attempt, e.Message);
        }
    }

    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());
}
