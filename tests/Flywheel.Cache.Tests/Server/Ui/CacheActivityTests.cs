using Flywheel.Cache.Server.Ui;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Server.Ui;

/// <summary>The status page's per-cache ring: minute buckets for a day, reused a day later, never more.</summary>
public sealed class CacheActivityTests
{
    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 10, 30, 15, TimeSpan.Zero));

    [Fact]
    public void Lookups_hits_and_uploads_land_in_the_bucket_of_their_minute()
    {
        var activity = new CacheActivity(_time);
        activity.RecordLookup("main", hit: true);
        activity.RecordLookup("main", hit: false);
        _time.Advance(TimeSpan.FromMinutes(2));
        activity.RecordLookup("main", hit: true);
        activity.RecordUpload("main");
        activity.RecordLookup("other", hit: false);

        var hour = activity.Read("main", 60, 1);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 9, 33, 0, TimeSpan.Zero), hour.From);
        Assert.Equal(60, hour.BucketSeconds);
        Assert.Equal(2, hour.Requests[57]);
        Assert.Equal(1, hour.Hits[57]);
        Assert.Equal((1L, 1L, 1L), (hour.Requests[59], hour.Hits[59], hour.Uploads[59]));
        Assert.Equal(3, hour.Requests.Sum());
        Assert.Equal(1, activity.Read("other", 60, 1).Requests.Sum());
        Assert.Equal(0, activity.Read("never-asked", 60, 1).Requests.Sum());
    }

    [Fact]
    public void A_day_is_read_in_hour_buckets_and_what_is_older_than_a_day_is_gone()
    {
        var activity = new CacheActivity(_time);
        activity.RecordLookup("main", hit: true);
        _time.Advance(TimeSpan.FromHours(23));
        activity.RecordLookup("main", hit: false);

        var day = activity.Read("main", 24, 60);
        Assert.Equal(3600, day.BucketSeconds);
        Assert.Equal(2, day.Requests.Sum());
        Assert.Equal(1, day.Requests[23]);

        // the same minute a day later reuses the slot: the old count is dropped, not added
        _time.Advance(TimeSpan.FromHours(1));
        activity.RecordLookup("main", hit: false);
        day = activity.Read("main", 24, 60);
        Assert.Equal(2, day.Requests.Sum());
        Assert.Equal(0, day.Hits.Sum());
        Assert.Equal(0, activity.Read("main", 60, 1).Hits.Sum());
    }

    [Fact]
    public void More_than_a_day_cannot_be_asked_for()
    {
        var activity = new CacheActivity(_time);
        Assert.Throws<ArgumentOutOfRangeException>(() => activity.Read("main", 25, 60));
        Assert.Throws<ArgumentOutOfRangeException>(() => activity.Read("main", 0, 1));
    }
}
