using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Server.Builds;

/// <summary>
/// Takes builds of its lanes from the queue and runs them, one at a time. An attempt killed for memory is retried
/// once on the next larger lane (queued there, so a worker of that lane takes it); every attempt is recorded as
/// history of the installable.
/// </summary>
public sealed class BuildWorker(
    IMetadataStore index, LaneSet lanes, IReadOnlyList<string> laneNames, string name, NixBuildRunner runner, string workDirectory,
    TimeProvider time, ILogger logger)
{
    /// <summary>How many attempts a build may have: the first and one retry after an out-of-memory kill.</summary>
    public const int MaxAttempts = 2;

    /// <summary>Takes and runs one build; false when none was queued.</summary>
    public async Task<bool> RunOnceAsync(CancellationToken cancellationToken)
    {
        var build = await index.TakeBuildAsync(laneNames, name, Now(), cancellationToken).ConfigureAwait(false);
        if (build is null)
        {
            return false;
        }

        var lane = lanes.Get(build.Lane);
        logger.LogInformation("Build {Build} of {Installable}: attempt {Attempt} on lane {Lane} by {Worker}", build.Id, build.Installable, build.Attempt, lane.Name, name);
        var cache = await index.GetCacheAsync(build.Cache, cancellationToken).ConfigureAwait(false);
        if (cache is null)
        {
            await index.UpdateBuildAsync(build with { Status = BuildStatus.Failed, FinishedAt = Now(), Error = $"the cache '{build.Cache}' no longer exists" }, cancellationToken)
                .ConfigureAwait(false);
            return true;
        }

        var directory = Path.Combine(workDirectory, $"{build.Id}-{build.Attempt}");
        try
        {
            var started = Now();
            var result = await runner.RunAsync(build, lane, cache.PublicKey, directory, cancellationToken).ConfigureAwait(false);
            await index.AddBuildAttemptAsync(new BuildAttemptRecord(
                build.Id, build.Attempt, build.Installable, lane.Name, result.Outcome, result.ExitCode, result.PeakMemoryBytes, result.MemoryLimit,
                result.BuiltPaths, result.SubstitutedPaths, result.Phases, started, Now()), cancellationToken).ConfigureAwait(false);

            var logPath = build.LogPath;
            if (result.Derivation is not null)
            {
                logPath = await runner.UploadLogAsync(build.Cache, result.Derivation, result.LogFile, cancellationToken).ConfigureAwait(false);
            }

            var next = result.Outcome == BuildOutcome.OutOfMemory && build.Attempt < MaxAttempts ? lanes.NextLarger(lane) : null;
            var updated = next is not null
                ? build with
                {
                    Lane = next.Name,
                    LaneReason = $"rerouted: attempt {build.Attempt} was killed for memory on {lane.Name} (peak {result.PeakMemoryBytes?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"} bytes, {result.MemoryLimit})",
                    Status = BuildStatus.Queued,
                    Worker = null,
                    LogPath = logPath,
                    Error = result.Error,
                }
                : build with
                {
                    Status = result.Outcome == BuildOutcome.Succeeded ? BuildStatus.Succeeded : BuildStatus.Failed,
                    FinishedAt = Now(),
                    Outputs = result.Outputs,
                    LogPath = logPath,
                    Error = result.Error,
                };
            await index.UpdateBuildAsync(updated, cancellationToken).ConfigureAwait(false);
            logger.LogInformation("Build {Build}: attempt {Attempt} on {Lane} ended {Outcome}{Next}", build.Id, build.Attempt, lane.Name, result.Outcome,
                next is null ? "" : $", rerouted to {next.Name}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Build {Build} failed in the worker", build.Id);
            await index.UpdateBuildAsync(build with { Status = BuildStatus.Failed, FinishedAt = Now(), Error = "the worker failed: " + e.Message }, CancellationToken.None)
                .ConfigureAwait(false);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }

        return true;
    }

    /// <summary>Runs builds until cancelled, polling the queue every <paramref name="poll"/> while it is empty.</summary>
    public async Task RunAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!await RunOnceAsync(cancellationToken).ConfigureAwait(false))
            {
                await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());
}
