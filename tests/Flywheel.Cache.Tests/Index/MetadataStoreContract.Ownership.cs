using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Index;

/// <summary>
/// The contract's part for per-cache blob ownership: bytes are recorded once (blobs), access is per cache
/// (cache_blobs). Lookups for a cache answer only from the blobs it owns; reads bump, never add.
/// </summary>
public abstract partial class MetadataStoreContract
{
    /// <summary>Records the blob as stored and makes it the cache's own (what a verified upload through it does).</summary>
    protected async Task OwnAsync(long cache, BlobDigest digest, long size)
    {
        await Store.RecordBlobAsync(digest, size, Time.GetUtcNow(), None);
        await Store.AddCacheBlobsAsync(cache, [digest], Time.GetUtcNow(), None);
    }

    [Fact]
    public async Task Sized_lookup_answers_only_from_the_blobs_the_cache_owns()
    {
        var priv = await CreateCacheIdAsync("priv");
        var main = await CreateCacheIdAsync("main");
        await OwnAsync(priv, Digest("private"), 10);
        await Store.RecordBlobAsync(Digest("stored, no owner"), 20, Time.GetUtcNow(), None);
        await OwnAsync(main, Digest("shared"), 30);
        await Store.AddCacheBlobsAsync(priv, [Digest("shared")], Time.GetUtcNow(), None);
        SizedBlob[] asked = [new(Digest("private"), 10), new(Digest("stored, no owner"), 20), new(Digest("shared"), 30), new(BlobDigest.Empty, 0)];

        Assert.Equal([0, 1], await Store.FindMissingSizedBlobsAsync(main, asked, None));
        Assert.Equal([1], await Store.FindMissingSizedBlobsAsync(priv, asked, None));
        Assert.Equal([0, 1, 2], await NewStore().FindMissingSizedBlobsAsync(987_654, asked, None)); // no such cache: owns nothing
    }

    [Fact]
    public async Task Cache_blob_size_is_known_only_to_the_owner()
    {
        var priv = await CreateCacheIdAsync("priv");
        var main = await CreateCacheIdAsync("main");
        await OwnAsync(priv, Digest("private"), 1234);

        Assert.Equal(1234L, await Store.GetCacheBlobSizeAsync(priv, Digest("private"), None));
        Assert.Null(await Store.GetCacheBlobSizeAsync(main, Digest("private"), None));
        Assert.Null(await Store.GetCacheBlobSizeAsync(priv, Digest("never stored"), None));
    }

    [Fact]
    public async Task Touching_owned_blobs_bumps_them_forward_and_never_adds_a_blob_to_a_cache()
    {
        var priv = await CreateCacheIdAsync("priv");
        var main = await CreateCacheIdAsync("main");
        var start = Time.GetUtcNow();
        await OwnAsync(priv, Digest("a"), 10);
        await OwnAsync(main, Digest("b"), 10);

        await Store.TouchOwnedBlobsAsync(main, [Digest("a"), Digest("b"), Digest("unknown")], start.AddHours(2), None);
        await Store.TouchOwnedBlobsAsync(main, [Digest("b")], start.AddHours(1), None); // late: no step back
        await Store.TouchOwnedBlobsAsync(main, [], start.AddHours(3), None);

        Assert.Null(await Store.GetCacheBlobSizeAsync(main, Digest("a"), None));
        Assert.Equal([0], await Store.FindMissingSizedBlobsAsync(main, [new(Digest("a"), 10), new(Digest("b"), 10)], None));
        var mainBlobs = await Store.ListLeastRecentCacheBlobsAsync(main, null, 10, None);
        Assert.Equal([(Digest("b"), start.AddHours(2))], mainBlobs.Select(e => (e.Digest, e.LastAccess)));
        Assert.Equal([(Digest("a"), start)], (await Store.ListLeastRecentCacheBlobsAsync(priv, null, 10, None)).Select(e => (e.Digest, e.LastAccess)));
    }

    [Fact]
    public async Task A_caches_nar_files_are_outside_its_quota_and_leave_its_blobs_with_their_nar_record()
    {
        var cache = await CreateCacheIdAsync("main");
        var other = await CreateCacheIdAsync("other");
        var created = Time.GetUtcNow();
        var nar = Digest("nar file");
        await OwnAsync(cache, nar, 500);
        await Store.PutNarFileAsync(cache, new NarFileRecord(nar, "none", 500, "sha256:x", 500, created), None);
        await OwnAsync(other, nar, 500); // the same bytes uploaded to another cache's CAS
        await OwnAsync(cache, Digest("cas blob"), 100);

        var usage = await Store.GetCacheUsageAsync(cache, None);
        Assert.Equal((1L, 100L, 1L, 500L), (usage.Blobs, usage.BlobBytes, usage.NarFiles, usage.NarBytes));
        Assert.Equal([Digest("cas blob")], (await Store.ListLeastRecentCacheBlobsAsync(cache, null, 10, None)).Select(e => e.Digest));
        Assert.Equal(500L, await Store.GetCacheBlobSizeAsync(cache, nar, None)); // served through its CAS routes all the same

        Time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(new RemovedEntries(1, 500), await Store.RemoveUnreferencedNarFilesAsync(cache, Time.GetUtcNow(), None));

        Assert.Null(await Store.GetCacheBlobSizeAsync(cache, nar, None));
        Assert.Equal(500L, await Store.GetCacheBlobSizeAsync(other, nar, None));
        Assert.Equal(100L, await Store.GetCacheBlobSizeAsync(cache, Digest("cas blob"), None));
    }
}
