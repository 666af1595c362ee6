using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests;

public sealed class ExpiringLookupTests
{
    private readonly ManualTimeProvider _time = new(DateTimeOffset.UtcNow);
    private int _loads;

    private Task<string> Load(string key, string suffix)
    {
        Interlocked.Increment(ref _loads);
        return Task.FromResult(key + suffix);
    }

    [Fact]
    public async Task A_value_is_remembered_until_its_time_is_up()
    {
        var lookup = new ExpiringLookup<string, string>(TimeSpan.FromSeconds(5), _time);

        Assert.Equal("a1", await lookup.GetAsync("a", "1", (k, s) => Load(k, s), CancellationToken.None));
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal("a1", await lookup.GetAsync("a", "2", (k, s) => Load(k, s), CancellationToken.None));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("a3", await lookup.GetAsync("a", "3", (k, s) => Load(k, s), CancellationToken.None));
        Assert.Equal(2, _loads);
    }

    [Fact]
    public async Task A_failed_load_is_not_remembered_and_reaches_the_caller()
    {
        var lookup = new ExpiringLookup<string, string>(TimeSpan.FromSeconds(5), _time);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            lookup.GetAsync<int>("a", 0, (_, _) => Task.FromException<string>(new InvalidOperationException("index down")), CancellationToken.None).AsTask());

        Assert.Equal("index down", e.Message);
        Assert.Equal("a1", await lookup.GetAsync("a", "1", (k, s) => Load(k, s), CancellationToken.None));
    }

    [Fact]
    public async Task Set_remove_and_remove_where_change_what_is_remembered()
    {
        var lookup = new ExpiringLookup<string, string>(TimeSpan.FromSeconds(5), _time);
        lookup.Set("a", "set");
        lookup.Set("b", "set");
        lookup.Set("c", "other");

        Assert.Equal("set", await lookup.GetAsync("a", "1", (k, s) => Load(k, s), CancellationToken.None));
        lookup.Remove("a");
        lookup.RemoveWhere(v => v == "other");

        Assert.Equal("a1", await lookup.GetAsync("a", "1", (k, s) => Load(k, s), CancellationToken.None));
        Assert.Equal("set", await lookup.GetAsync("b", "1", (k, s) => Load(k, s), CancellationToken.None));
        Assert.Equal("c1", await lookup.GetAsync("c", "1", (k, s) => Load(k, s), CancellationToken.None));
        Assert.Equal(2, _loads);
    }

    [Fact]
    public async Task Past_the_entry_bound_the_memory_starts_over()
    {
        var lookup = new ExpiringLookup<int, int>(TimeSpan.FromMinutes(1), _time, maxEntries: 3);
        for (var i = 0; i < 3; i++)
        {
            lookup.Set(i, i);
        }

        lookup.Set(3, 3); // the fourth entry drops the first three

        var loads = 0;
        Assert.Equal(30, await lookup.GetAsync(0, 0, (_, _) => { loads++; return Task.FromResult(30); }, CancellationToken.None));
        Assert.Equal(3, await lookup.GetAsync(3, 0, (_, _) => { loads++; return Task.FromResult(-1); }, CancellationToken.None));
        Assert.Equal(1, loads);
    }

    [Fact]
    public void A_time_to_live_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExpiringLookup<int, int>(TimeSpan.Zero, _time));
}
