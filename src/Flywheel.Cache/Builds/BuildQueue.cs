using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>Accepts build requests: checks the installable and the cache, chooses the lane (asked for, or recommended from history), queues it.</summary>
public sealed class BuildQueue(IBuildStore builds, ICacheStore caches, LaneSet lanes, TimeProvider time)
{
    public LaneSet Lanes => lanes;

    public async Task<BuildRecord> SubmitAsync(string cache, string installable, string? lane, CancellationToken cancellationToken)
    {
        Installable.Parse(installable);
        _ = await caches.GetCacheAsync(cache, cancellationToken).ConfigureAwait(false)
            ?? throw new CacheException(CacheError.NotFound, $"no cache named {ClientText.Quote(cache)}");
        var (chosen, reason) = lane is null
            ? await RecommendAsync(installable, cancellationToken).ConfigureAwait(false) is var r ? (r.Lane, "recommended: " + r.Explanation) : default
            : (lanes.Get(lane), "asked for");
        var build = new BuildRecord(
            Id: "b" + Guid.NewGuid().ToString("N")[..20],
            Cache: cache,
            Installable: installable,
            Lane: chosen.Name,
            LaneReason: reason,
            Status: BuildStatus.Queued,
            Attempt: 0,
            RequestedAt: DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds()),
            StartedAt: null,
            FinishedAt: null,
            Worker: null,
            Outputs: [],
            LogPath: null,
            Error: null);
        await builds.EnqueueBuildAsync(build, cancellationToken).ConfigureAwait(false);
        return build;
    }

    public async Task<LaneRecommendation> RecommendAsync(string installable, CancellationToken cancellationToken)
    {
        var history = await builds.ListBuildAttemptsAsync(null, installable, LaneRecommender.HistoryLimit, cancellationToken).ConfigureAwait(false);
        return LaneRecommender.Recommend(lanes, history);
    }
}
