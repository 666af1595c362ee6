using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Ui;

namespace Flywheel.Cache.Server.Api;

/// <summary>GET /_api/v1/overview: whether the caller sent a token, and the caches it may read.</summary>
public sealed record OverviewView(bool Authenticated, IReadOnlyList<CacheOverview> Caches);

/// <summary>
/// A cache on the status page: what it holds (<see cref="CacheUsage"/>: narinfos, NAR bytes, blob bytes the quota
/// limits), its quota in bytes (null: none), this gateway's activity over the last hour and day, and its upstreams'
/// health (null: the caller has no admin on the cache).
/// </summary>
public sealed record CacheOverview(
    string Name, bool Public, long? QuotaBytes, CacheUsage Usage, ActivityView LastHour, ActivityView LastDay, IReadOnlyList<UpstreamHealthView>? Upstreams);

/// <summary>
/// Buckets of <see cref="BucketSeconds"/> from <see cref="From"/>, oldest first: narinfo lookups (requests), how many
/// found a narinfo (hits), narinfos uploaded; with their sums and the hit ratio (null without requests).
/// </summary>
public sealed record ActivityView(
    DateTimeOffset From, int BucketSeconds, long[] Requests, long[] Hits, long[] Uploads, long TotalRequests, long TotalHits, long TotalUploads, double? HitRatio)
{
    public static ActivityView Of(ActivitySeries s)
    {
        var requests = s.Requests.Sum();
        var hits = s.Hits.Sum();
        return new(s.From, s.BucketSeconds, s.Requests, s.Hits, s.Uploads, requests, hits, s.Uploads.Sum(),
            requests == 0 ? null : Math.Round((double)hits / requests, 4));
    }
}

/// <summary>An upstream: where, its priority, its circuit (closed: used; open: skipped for now), its last failure seen by this gateway.</summary>
public sealed record UpstreamHealthView(string Url, int Priority, string Circuit, string? LastError, DateTimeOffset? LastErrorAt);
