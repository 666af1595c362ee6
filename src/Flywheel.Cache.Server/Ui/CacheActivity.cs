using System.Collections.Concurrent;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.Ui;

/// <summary>
/// What each cache was asked over the last day, kept in memory by this gateway for the status page: per cache a ring
/// of <see cref="Minutes"/> minute buckets of narinfo lookups, hits and narinfo uploads, and per upstream its last
/// failure. Fed by <see cref="Metrics.FlywheelMetrics"/> where it counts the same events, so the page and
/// <c>/metrics</c> agree. Bounded: one ring (three arrays of a day of minutes) per cache that was asked, one entry per
/// configured upstream that failed. Each gateway keeps its own (a replica shows what it served); nothing is stored.
/// Recording takes no lock and allocates nothing once a cache's ring exists, except when a bucket is reused a day later.
/// </summary>
public sealed class CacheActivity
{
    /// <summary>How many minute buckets each cache keeps: one day.</summary>
    public const int Minutes = 24 * 60;

    private readonly ConcurrentDictionary<string, Ring> _rings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Cache, string Url), UpstreamFailure> _failures = new();
    private readonly TimeProvider _time;

    public CacheActivity(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>A narinfo GET or HEAD answered from <paramref name="cache"/>, found or not.</summary>
    public void RecordLookup(string cache, bool hit)
    {
        var ring = RingOf(cache);
        var slot = ring.Slot(CurrentMinute());
        Interlocked.Increment(ref ring.Requests[slot]);
        if (hit)
        {
            Interlocked.Increment(ref ring.Hits[slot]);
        }
    }

    /// <summary>A narinfo stored in <paramref name="cache"/> by an upload (what <c>nix copy --to</c> does last for each path).</summary>
    public void RecordUpload(string cache)
    {
        var ring = RingOf(cache);
        Interlocked.Increment(ref ring.Uploads[ring.Slot(CurrentMinute())]);
    }

    /// <summary>Keeps the failure of an upstream request (an error or a refused answer) as that upstream's last error.</summary>
    public void RecordUpstream(UpstreamFetch fetch)
    {
        if (fetch.Result is UpstreamFetchResult.Error or UpstreamFetchResult.Rejected)
        {
            _failures[(fetch.Upstream.CacheName, fetch.Upstream.Url)] =
                new UpstreamFailure(ClientText.Cut(fetch.Error ?? fetch.Result.ToString().ToLowerInvariant()), _time.GetUtcNow());
        }
    }

    /// <summary>The last failure of the upstream <paramref name="url"/> of <paramref name="cache"/> seen by this gateway, or null.</summary>
    public UpstreamFailure? LastFailure(string cache, string url) => _failures.TryGetValue((cache, url), out var failure) ? failure : null;

    /// <summary>
    /// The last <paramref name="buckets"/> buckets of <paramref name="bucketMinutes"/> minutes each, oldest first, the
    /// newest one holding the current minute; at most a day (<see cref="Minutes"/>) in all.
    /// </summary>
    public ActivitySeries Read(string cache, int buckets, int bucketMinutes)
    {
        if (buckets < 1 || bucketMinutes < 1 || (long)buckets * bucketMinutes > Minutes)
        {
            throw new ArgumentOutOfRangeException(nameof(buckets), "at most a day of buckets");
        }

        var now = CurrentMinute();
        var first = now - ((long)buckets * bucketMinutes) + 1;
        var requests = new long[buckets];
        var hits = new long[buckets];
        var uploads = new long[buckets];
        if (_rings.TryGetValue(cache, out var ring))
        {
            for (var minute = first; minute <= now; minute++)
            {
                var slot = (int)(minute % Minutes);
                if (Volatile.Read(ref ring.Stamps[slot]) != minute)
                {
                    continue;
                }

                var bucket = (int)((minute - first) / bucketMinutes);
                requests[bucket] += Volatile.Read(ref ring.Requests[slot]);
                hits[bucket] += Volatile.Read(ref ring.Hits[slot]);
                uploads[bucket] += Volatile.Read(ref ring.Uploads[slot]);
            }
        }

        return new ActivitySeries(DateTimeOffset.FromUnixTimeSeconds(first * 60), bucketMinutes * 60, requests, hits, uploads);
    }

    private long CurrentMinute() => _time.GetUtcNow().ToUnixTimeSeconds() / 60;

    private Ring RingOf(string cache) =>
        _rings.TryGetValue(cache, out var ring) ? ring : _rings.GetOrAdd(cache, static _ => new Ring());

    private sealed class Ring
    {
        public readonly long[] Stamps = new long[Minutes];
        public readonly long[] Requests = new long[Minutes];
        public readonly long[] Hits = new long[Minutes];
        public readonly long[] Uploads = new long[Minutes];
        private readonly Lock _reuse = new();

        public Ring()
        {
            Array.Fill(Stamps, -1);
        }

        /// <summary>The slot of <paramref name="minute"/>, emptied first when it still holds the same minute of an earlier day.</summary>
        public int Slot(long minute)
        {
            var slot = (int)(minute % Minutes);
            if (Volatile.Read(ref Stamps[slot]) != minute)
            {
                Reuse(slot, minute);
            }

            return slot;
        }

        private void Reuse(int slot, long minute)
        {
            lock (_reuse)
            {
                if (Stamps[slot] == minute)
                {
                    return;
                }

                Volatile.Write(ref Requests[slot], 0);
                Volatile.Write(ref Hits[slot], 0);
                Volatile.Write(ref Uploads[slot], 0);
                Volatile.Write(ref Stamps[slot], minute); // last: a recorder that sees this minute counts into emptied buckets
            }
        }
    }
}

/// <summary>Buckets of <see cref="BucketSeconds"/> from <see cref="From"/>, oldest first.</summary>
public sealed record ActivitySeries(DateTimeOffset From, int BucketSeconds, long[] Requests, long[] Hits, long[] Uploads);

/// <summary>An upstream's last failure: what happened (cut), and when.</summary>
public sealed record UpstreamFailure(string Error, DateTimeOffset At);
