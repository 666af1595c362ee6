using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Metrics;

namespace Flywheel.Cache.Server.BuildHosting;

/// <summary>
/// Counts the queued and running builds per lane in the index every <see cref="Period"/> for the gauges
/// <c>flywheel_build_queue_depth</c> and <c>flywheel_build_running</c> (every configured lane appears, with 0 when idle).
/// Counted from the index, the figures hold whichever processes run the workers.
/// </summary>
internal sealed class BuildQueueGauge(IBuildStore builds, LaneSet lanes, FlywheelMetrics metrics, TimeProvider time, ILogger<BuildQueueGauge> logger)
    : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var counts = await builds.CountActiveBuildsAsync(stoppingToken).ConfigureAwait(false);
                var idle = lanes.All
                    .SelectMany(l => new[] { BuildStatus.Queued, BuildStatus.Running }.Select(status => (l.Name, status)))
                    .Where(x => !counts.Any(c => c.Lane == x.Name && c.Status == x.status))
                    .Select(x => new BuildCount(x.Name, x.status, 0));
                metrics.RecordActiveBuilds([.. counts, .. idle]);
            }
            catch (CacheException e) when (e.Error == CacheError.Unavailable)
            {
                logger.LogWarning(e, "Counting the build queue failed; the gauges keep the last count");
            }

            await Task.Delay(Period, time, stoppingToken).ConfigureAwait(false);
        }
    }
}
