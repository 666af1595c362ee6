using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Index;

/// <summary>The upstream part of the contract: read-through configuration and NARs known from upstream narinfos.</summary>
public abstract partial class MetadataStoreContract
{
    private const string KeyA = "a.example-1:7K0mMKSBtZjb2sMrMRTaQ7kWk6tfhoGnkDoM7HzzUSg=";
    private const string KeyB = "b.example-1:Ab0mMKSBtZjb2sMrMRTaQ7kWk6tfhoGnkDoM7HzzUSg=";

    protected static UpstreamRecord NewUpstream(long cacheId, string url, int priority = 50, string? token = null) => new(
        Id: 0, CacheId: cacheId, Url: url, Priority: priority, TrustedKeys: [KeyA, KeyB], Token: token,
        Timeout: TimeSpan.FromMilliseconds(2500), CreatedAt: default);

    [Fact]
    public async Task Upstream_round_trips_with_an_id_and_the_creation_time()
    {
        var cache = await CreateCacheIdAsync();

        var added = await Store.AddUpstreamAsync(NewUpstream(cache, "https://cache.example.org", token: "secret"), None);

        Assert.True(added.Id > 0);
        Assert.Equal(Time.GetUtcNow(), added.CreatedAt);
        var listed = Assert.Single(await Store.ListUpstreamsAsync(cache, None));
        Assert.Equal(added.Id, listed.Id);
        Assert.Equal(cache, listed.CacheId);
        Assert.Equal("https://cache.example.org", listed.Url);
        Assert.Equal(50, listed.Priority);
        Assert.Equal([KeyA, KeyB], listed.TrustedKeys);
        Assert.Equal("secret", listed.Token);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), listed.Timeout);
        Assert.Equal(added.CreatedAt, listed.CreatedAt);
    }

    [Fact]
    public async Task Upstreams_are_listed_by_priority_then_in_the_order_added_and_belong_to_their_cache()
    {
        var cache = await CreateCacheIdAsync();
        var other = await CreateCacheIdAsync("other");
        await Store.AddUpstreamAsync(NewUpstream(cache, "http://b.example", priority: 20), None);
        await Store.AddUpstreamAsync(NewUpstream(cache, "http://c.example", priority: 10), None);
        await Store.AddUpstreamAsync(NewUpstream(cache, "http://a.example", priority: 20), None);
        await Store.AddUpstreamAsync(NewUpstream(other, "http://b.example"), None);

        var listed = await Store.ListUpstreamsAsync(cache, None);

        Assert.Equal(["http://c.example", "http://b.example", "http://a.example"], listed.Select(u => u.Url));
        Assert.Null(Assert.Single(await Store.ListUpstreamsAsync(other, None)).Token);
        Assert.Empty(await Store.ListUpstreamsAsync(other + 1000, None));
    }

    [Fact]
    public async Task Adding_an_upstream_url_twice_is_a_conflict_and_to_an_unknown_cache_not_found()
    {
        var cache = await CreateCacheIdAsync();
        await Store.AddUpstreamAsync(NewUpstream(cache, "http://a.example"), None);

        var twice = await Assert.ThrowsAsync<CacheException>(() => Store.AddUpstreamAsync(NewUpstream(cache, "http://a.example", priority: 1), None));
        var unknown = await Assert.ThrowsAsync<CacheException>(() => Store.AddUpstreamAsync(NewUpstream(cache + 1000, "http://a.example"), None));

        Assert.Equal(CacheError.Conflict, twice.Error);
        Assert.Equal(CacheError.NotFound, unknown.Error);
        Assert.Equal(50, Assert.Single(await Store.ListUpstreamsAsync(cache, None)).Priority);
    }

    [Fact]
    public async Task Removing_an_upstream_removes_its_nar_records_only()
    {
        var cache = await CreateCacheIdAsync();
        var a = await Store.AddUpstreamAsync(NewUpstream(cache, "http://a.example"), None);
        var b = await Store.AddUpstreamAsync(NewUpstream(cache, "http://b.example"), None);
        var narA = NewUpstreamNar(a.Id, "a");
        var narB = NewUpstreamNar(b.Id, "b");
        await Store.PutUpstreamNarAsync(cache, narA, None);
        await Store.PutUpstreamNarAsync(cache, narB, None);

        Assert.True(await Store.RemoveUpstreamAsync(cache, "http://a.example", None));
        Assert.False(await Store.RemoveUpstreamAsync(cache, "http://a.example", None));

        Assert.Equal("http://b.example", Assert.Single(await Store.ListUpstreamsAsync(cache, None)).Url);
        Assert.Null(await Store.GetUpstreamNarAsync(cache, narA.FileHash, None));
        Assert.Equal(narB, await Store.GetUpstreamNarAsync(cache, narB.FileHash, None));
    }

    [Fact]
    public async Task Upstream_nar_round_trips_is_replaced_by_a_later_put_and_belongs_to_its_cache()
    {
        var cache = await CreateCacheIdAsync();
        var other = await CreateCacheIdAsync("other");
        var a = await Store.AddUpstreamAsync(NewUpstream(cache, "http://a.example"), None);
        var b = await Store.AddUpstreamAsync(NewUpstream(cache, "http://b.example"), None);
        var nar = NewUpstreamNar(a.Id, "nar");

        await Store.PutUpstreamNarAsync(cache, nar, None);
        Assert.Equal(nar, await Store.GetUpstreamNarAsync(cache, nar.FileHash, None));

        var later = nar with { UpstreamId = b.Id, Url = "http://b.example/nar/x.nar", Compression = "none", CreatedAt = nar.CreatedAt.AddMinutes(1) };
        await Store.PutUpstreamNarAsync(cache, later, None);

        Assert.Equal(later, await Store.GetUpstreamNarAsync(cache, nar.FileHash, None));
        Assert.Null(await Store.GetUpstreamNarAsync(other, nar.FileHash, None));
        Assert.Null(await Store.GetUpstreamNarAsync(cache, Digest("unknown"), None));
    }

    private UpstreamNarRecord NewUpstreamNar(long upstreamId, string seed) => new(
        Digest(seed), upstreamId, $"http://example/nar/{seed}.nar.xz", "xz", 1234, "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 5678, Time.GetUtcNow());
}
