using Flywheel.Cache.Nix;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>The narinfo memory cache in front of the index: bounded by size, misses remembered only briefly.</summary>
public sealed class NarInfoMemoryCacheTests
{
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void Found_entries_are_served_and_forgotten_on_request()
    {
        var cache = new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        cache.SetFound(1, "a", [1, 2, 3]);
        Assert.True(cache.TryGet(1, "a", out var text));
        Assert.Equal([1, 2, 3], text);
        Assert.False(cache.TryGet(2, "a", out _)); // another cache's entry is not this one

        cache.Forget(1, "a");
        Assert.False(cache.TryGet(1, "a", out _));
        Assert.Equal(0, cache.SizeBytes);
    }

    [Fact]
    public void Misses_are_remembered_for_the_negative_ttl_only_and_never_hide_a_found_entry()
    {
        var cache = new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        cache.SetMissing(1, "gone");
        Assert.True(cache.TryGet(1, "gone", out var text));
        Assert.Null(text);

        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.False(cache.TryGet(1, "gone", out _));

        cache.SetFound(1, "here", [9]);
        cache.SetMissing(1, "here"); // a lookup that missed just before a PUT landed
        Assert.True(cache.TryGet(1, "here", out var found));
        Assert.Equal([9], found);
    }

    [Fact]
    public void Found_entries_expire_after_the_ttl_so_changes_made_elsewhere_are_seen()
    {
        var cache = new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        cache.SetFound(1, "a", [1, 2, 3]);
        _time.Advance(TimeSpan.FromMinutes(4));
        Assert.True(cache.TryGet(1, "a", out _)); // reads do not extend the lifetime
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.False(cache.TryGet(1, "a", out _));
        Assert.Equal(0, cache.SizeBytes);

        var off = new NarInfoMemoryCache(1 << 20, TimeSpan.Zero, TimeSpan.FromSeconds(2), _time);
        off.SetFound(1, "a", [1]);
        Assert.False(off.TryGet(1, "a", out _));
    }

    [Fact]
    public void A_zero_negative_ttl_remembers_no_miss()
    {
        var cache = new NarInfoMemoryCache(1 << 20, TimeSpan.FromMinutes(5), TimeSpan.Zero, _time);
        cache.SetMissing(1, "gone");
        Assert.False(cache.TryGet(1, "gone", out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Memory_stays_bounded_and_recently_read_entries_survive_eviction()
    {
        const long limit = 64 * 1024;
        var cache = new NarInfoMemoryCache(limit, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        var text = new byte[500];
        cache.SetFound(1, "hot", text);
        for (var i = 0; i < 2000; i++)
        {
            Assert.True(cache.TryGet(1, "hot", out _)); // read between insertions: referenced at every sweep
            cache.SetFound(1, "cold-" + i, text);
            Assert.True(cache.SizeBytes <= limit + 1024, $"{cache.SizeBytes} bytes after {i} insertions");
        }

        Assert.True(cache.TryGet(1, "hot", out _));
        Assert.InRange(cache.Count, 10, 2000);
    }

    [Fact]
    public void Expired_misses_are_swept_when_misses_alone_fill_the_budget()
    {
        const long limit = 64 * 1024;
        var cache = new NarInfoMemoryCache(limit, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        for (var i = 0; i < 1000; i++)
        {
            cache.SetMissing(1, $"{i:D32}");
        }

        _time.Advance(TimeSpan.FromSeconds(3));
        for (var i = 1000; i < 1100; i++)
        {
            cache.SetMissing(1, $"{i:D32}");
        }

        Assert.InRange(cache.SizeBytes, 1, limit);
        Assert.True(cache.TryGet(1, $"{1099:D32}", out var text));
        Assert.Null(text);
    }

    [Fact]
    public void Entries_too_large_for_the_budget_are_not_kept()
    {
        var cache = new NarInfoMemoryCache(16 * 1024, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2), _time);
        cache.SetFound(1, "huge", new byte[8 * 1024]);
        Assert.False(cache.TryGet(1, "huge", out _));
    }
}
