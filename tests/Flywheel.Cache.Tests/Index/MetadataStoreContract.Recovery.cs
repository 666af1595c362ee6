using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Index;

/// <summary>
/// The contract's part for the disk store's check after an unclean stop (IRecoveryIndex): blobs by creation time,
/// and dropping every row that names a blob whose bytes are gone, on both dialects.
/// </summary>
public abstract partial class MetadataStoreContract
{
    [Fact]
    public async Task Blobs_created_since_a_time_are_listed_oldest_first_with_their_size()
    {
        await Store.RecordBlobAsync(Digest("old"), 1, Time.GetUtcNow(), None);
        Time.Advance(TimeSpan.FromSeconds(10));
        var since = Time.GetUtcNow();
        await Store.RecordBlobAsync(Digest("at the horizon"), 2, since, None);
        Time.Advance(TimeSpan.FromSeconds(1));
        await Store.RecordBlobAsync(Digest("new"), 3, Time.GetUtcNow(), None);
        await Store.RecordBlobAsync(Digest("old"), 1, Time.GetUtcNow(), None); // recorded again: still created before

        var listed = await Store.ListBlobsCreatedSinceAsync(since, None);

        Assert.Equal([(Digest("at the horizon"), 2L, since), (Digest("new"), 3L, Time.GetUtcNow())], listed.Select(b => (b.Digest, b.Size, b.CreatedAt)));
    }

    [Fact]
    public async Task Forgetting_a_blob_drops_every_row_that_names_it_and_nothing_else()
    {
        var main = await CreateCacheIdAsync("main");
        var other = await CreateCacheIdAsync("other");
        var lost = NewNarInfo(1);
        var kept = NewNarInfo(2);
        foreach (var info in new[] { lost, kept })
        {
            await OwnAsync(main, info.FileHash, info.FileSize);
            await Store.PutNarFileAsync(main, new NarFileRecord(info.FileHash, "zstd", info.FileSize, info.NarHash, info.NarSize, Time.GetUtcNow()), None);
            await Store.PutNarInfoAsync(main, info, None);
        }

        await Store.AddCacheBlobsAsync(other, [lost.FileHash], Time.GetUtcNow(), None);
        await Store.PutCacheFileAsync(main, new CacheFileRecord("log/lost.drv", lost.FileHash, lost.FileSize, "text/plain", null, Time.GetUtcNow()), None);

        // narinfo, NAR file record, cache file, two ownerships, the blob record
        Assert.Equal(6, await Store.ForgetBlobAsync(lost.FileHash, None));

        Assert.Null(await Store.GetNarInfoAsync(main, lost.StorePathHash, None));
        Assert.Null(await Store.GetNarFileAsync(main, lost.FileHash, None));
        Assert.Null(await Store.GetCacheFileAsync(main, "log/lost.drv", None));
        Assert.Null(await Store.GetCacheBlobSizeAsync(main, lost.FileHash, None));
        Assert.Null(await Store.GetCacheBlobSizeAsync(other, lost.FileHash, None));
        Assert.Equal([lost.FileHash], await Store.FindMissingBlobsAsync([lost.FileHash, kept.FileHash], None));
        Assert.NotNull(await Store.GetNarInfoAsync(main, kept.StorePathHash, None));
        Assert.NotNull(await Store.GetNarFileAsync(main, kept.FileHash, None));
        Assert.Equal(kept.FileSize, await Store.GetCacheBlobSizeAsync(main, kept.FileHash, None));
        Assert.Equal(0, await Store.ForgetBlobAsync(lost.FileHash, None));
    }
}
