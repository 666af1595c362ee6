using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Index;

/// <summary>Promotions: the promotion gate's audit records, on every metadata store.</summary>
public abstract partial class MetadataStoreContract
{
    private PromotionRecord NewPromotion(string id, long cacheId, string status = "published", string? repository = "github.com/o/r", params int[] paths) => new(
        Id: id,
        CacheId: cacheId,
        Status: status,
        Class: "clean-derivation",
        Target: "flakehub://o/r",
        Repository: repository,
        Revision: "abc123",
        Request: "{\"storePaths\":[]}",
        Decision: "{\"rules\":[]}",
        Provenance: null,
        Publication: null,
        Error: null,
        Paths: (paths.Length == 0 ? [1] : paths).Select(i => new PromotedPath(StorePathHash(i), $"/nix/store/{StorePathHash(i)}-hello-{i}")).ToList(),
        CreatedAt: Time.GetUtcNow(),
        UpdatedAt: Time.GetUtcNow());

    [Fact]
    public async Task A_promotion_reads_back_with_its_paths_in_request_order()
    {
        var cacheId = await CreateCacheIdAsync();
        var promotion = NewPromotion("prm_1", cacheId, paths: [3, 1, 2]);

        Assert.True(await Store.TryCreatePromotionAsync(promotion, None));
        var read = await Store.GetPromotionAsync("prm_1", None);

        Assert.NotNull(read);
        Assert.Equal(promotion with { Paths = [] }, read with { Paths = [] });
        Assert.Equal(promotion.Paths, read.Paths);
        Assert.Null(await Store.GetPromotionAsync("prm_missing", None));
    }

    [Fact]
    public async Task Creating_a_promotion_twice_keeps_the_first()
    {
        var cacheId = await CreateCacheIdAsync();
        Assert.True(await Store.TryCreatePromotionAsync(NewPromotion("prm_1", cacheId, status: "rejected"), None));

        Assert.False(await NewStore().TryCreatePromotionAsync(NewPromotion("prm_1", cacheId, status: "published", paths: [7]), None));

        var read = await Store.GetPromotionAsync("prm_1", None);
        Assert.Equal("rejected", read!.Status);
        Assert.Equal(StorePathHash(1), Assert.Single(read.Paths).StorePathHash);
    }

    [Fact]
    public async Task An_update_applies_only_from_the_expected_status()
    {
        var cacheId = await CreateCacheIdAsync();
        var promotion = NewPromotion("prm_1", cacheId, status: "failed");
        await Store.TryCreatePromotionAsync(promotion, None);
        Time.Advance(TimeSpan.FromMinutes(1));
        var claimed = promotion with { Status = "publishing", Error = null, UpdatedAt = Time.GetUtcNow() };

        Assert.True(await Store.TryUpdatePromotionAsync(claimed, "failed", None));
        Assert.False(await NewStore().TryUpdatePromotionAsync(claimed, "failed", None)); // a second claimant loses

        var done = claimed with { Status = "published", Provenance = "{\"_type\":\"x\"}", Publication = "{\"ref\":\"r\"}", UpdatedAt = Time.GetUtcNow() };
        Assert.True(await Store.TryUpdatePromotionAsync(done, "publishing", None));
        var read = await Store.GetPromotionAsync("prm_1", None);
        Assert.Equal(done with { Paths = [] }, read! with { Paths = [] });
        Assert.Equal(promotion.CreatedAt, read.CreatedAt);
        Assert.False(await Store.TryUpdatePromotionAsync(done with { Id = "prm_missing" }, "publishing", None));
    }

    [Fact]
    public async Task Listing_filters_and_orders_newest_first()
    {
        var main = await CreateCacheIdAsync("main");
        var other = await CreateCacheIdAsync("other");
        await Store.TryCreatePromotionAsync(NewPromotion("prm_a", main, status: "published", paths: [1, 2]), None);
        Time.Advance(TimeSpan.FromSeconds(1));
        await Store.TryCreatePromotionAsync(NewPromotion("prm_b", main, status: "rejected", repository: "github.com/o/other", paths: [2]), None);
        Time.Advance(TimeSpan.FromSeconds(1));
        await Store.TryCreatePromotionAsync(NewPromotion("prm_c", other, status: "published", paths: [3]), None);
        var bTime = (await Store.GetPromotionAsync("prm_b", None))!.CreatedAt;

        static string Ids(IReadOnlyList<PromotionRecord> list) => string.Join(",", list.Select(p => p.Id));
        Assert.Equal("prm_c,prm_b,prm_a", Ids(await Store.ListPromotionsAsync(new PromotionQuery(), None)));
        Assert.Equal("prm_b,prm_a", Ids(await Store.ListPromotionsAsync(new PromotionQuery(CacheId: main), None)));
        Assert.Equal("prm_c,prm_a", Ids(await Store.ListPromotionsAsync(new PromotionQuery(Status: "published"), None)));
        Assert.Equal("prm_b", Ids(await Store.ListPromotionsAsync(new PromotionQuery(Repository: "github.com/o/other"), None)));
        Assert.Equal("prm_b,prm_a", Ids(await Store.ListPromotionsAsync(new PromotionQuery(StorePathHash: StorePathHash(2)), None)));
        Assert.Equal("prm_a", Ids(await Store.ListPromotionsAsync(new PromotionQuery(CreatedBefore: bTime), None)));
        Assert.Equal("prm_c", Ids(await Store.ListPromotionsAsync(new PromotionQuery(Limit: 1), None)));
        Assert.Equal("", Ids(await Store.ListPromotionsAsync(new PromotionQuery(Class: "oci-image"), None)));

        var listed = (await Store.ListPromotionsAsync(new PromotionQuery(CacheId: main, Status: "published"), None)).Single();
        Assert.Equal([StorePathHash(1), StorePathHash(2)], listed.Paths.Select(p => p.StorePathHash));
    }

    [Fact]
    public async Task A_promotion_of_an_unknown_cache_is_not_found()
    {
        var error = await Assert.ThrowsAsync<CacheException>(() => Store.TryCreatePromotionAsync(NewPromotion("prm_1", 999_999), None));
        Assert.Equal(CacheError.NotFound, error.Error);
    }
}
