using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>A configured lane with the workers that polled for its builds within the live window (none: its builds wait).</summary>
public sealed record LaneWorkers(Lane Lane, IReadOnlyList<BuildWorkerRecord> Workers)
{
    /// <summary>
    /// Every configured lane with its live workers, read from the index: workers record a heartbeat there each time they
    /// poll, whichever process or machine runs them, so every gateway gives the same answer.
    /// </summary>
    public static async Task<IReadOnlyList<LaneWorkers>> ReadAsync(IBuildWorkerStore workers, LaneSet lanes, TimeSpan window, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(time);
        var live = await workers.ListBuildWorkersAsync(time.GetUtcNow() - window, cancellationToken).ConfigureAwait(false);
        return lanes.All.Select(l => new LaneWorkers(l, live.Where(w => w.Lane == l.Name).ToList())).ToList();
    }

    /// <summary>What <c>flywheel build</c> says when a build's lane has no live worker.</summary>
    public static string NoWorkerAdvice(string lane) => $"no worker is serving lane {lane}; start `flywheel worker --lane {lane}`";
}
