using Amazon.S3;
using Amazon.S3.Model;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.S3;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Storage;

/// <summary>The blob store contract against a real s3rver, each test in its own key prefix of one bucket; plus S3's key layout.</summary>
[Collection(S3rverServer.Collection)]
public sealed class S3BlobStoreTests : BlobStoreContract
{
    private readonly S3rverServer _server;
    private readonly List<S3BlobStore> _stores = [];

    public S3BlobStoreTests(S3rverServer server)
    {
        _server = server;
    }

    protected override IBlobStore CreateStore() => NewStore(_server.Options(NewPrefix()));

    protected override Task CleanupAsync()
    {
        _stores.ForEach(s => s.Dispose());
        return Task.CompletedTask;
    }

    private static string NewPrefix() => "t-" + Guid.NewGuid().ToString("N")[..12] + "/";

    private S3BlobStore NewStore(S3BlobStoreOptions options)
    {
        var store = new S3BlobStore(options);
        _stores.Add(store);
        return store;
    }

    private S3BlobStore S3 => (S3BlobStore)Store;

    protected override bool ReportsStoredBlobs => false;

    [Fact]
    public async Task A_small_blob_commit_is_one_PutObject_and_asks_nothing_first_also_when_it_is_stored()
    {
        var content = RandomBytes(4000, 45);
        var digest = BlobDigest.Compute(content);
        var calls = new List<string>();
        var options = _server.Options(NewPrefix());
        using var client = S3BlobStore.CreateClient(options);
        using var store = new S3BlobStore(options, CallRecorder<IAmazonS3>.Wrap(client, calls));

        var first = await store.WriteAsync(content, digest, None);
        var afterFirst = calls.ToList();
        var second = await store.WriteAsync(content, digest, None);

        Assert.Equal(["PutObjectAsync"], afterFirst);
        Assert.Equal(["PutObjectAsync", "PutObjectAsync"], calls);
        Assert.Equal(new BlobCommit(digest, content.Length, AlreadyExisted: false), second);
        Assert.Equal(first, second);
        Assert.Equal([store.GetKey(digest)], (await client.ListObjectsV2Async(
            new ListObjectsV2Request { BucketName = S3rverServer.Bucket, Prefix = options.KeyPrefix })).S3Objects!.Select(o => o.Key));
        Assert.Equal(content, await ReadAllAsync((await store.OpenAsync(digest, None))!, 0, content.Length));
    }

    [Fact]
    public async Task Writing_over_a_stored_blob_renews_its_last_modified_time_for_the_orphan_sweeps_grace()
    {
        var content = RandomBytes(700, 46);
        var first = await Store.WriteAsync(content, null, None);
        var before = Assert.Single(await ListAllAsync()).LastModified;
        await Task.Delay(1100); // S3 times have whole seconds

        await Store.WriteAsync(content, first.Digest, None);

        Assert.True(Assert.Single(await ListAllAsync()).LastModified > before);
    }

    [Fact]
    public async Task Blobs_are_stored_under_prefix_blobs_shard_and_hex()
    {
        var content = RandomBytes(321, 40);
        var digest = BlobDigest.Compute(content);
        await Store.WriteAsync(content, digest, None);

        var hex = digest.ToHex();
        var key = $"{S3.Options.KeyPrefix}blobs/{hex[..2]}/{hex}";
        Assert.Equal(key, S3.GetKey(digest));
        var objects = await S3.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = S3rverServer.Bucket, Prefix = S3.Options.KeyPrefix });
        Assert.Equal([key], objects.S3Objects!.Select(o => o.Key));
    }

    [Fact]
    public async Task OpenKnown_asks_no_HeadObject_and_an_object_gone_from_the_bucket_fails_the_read_as_not_found()
    {
        var content = RandomBytes(5000, 44);
        var commit = await Store.WriteAsync(content, null, None);
        var known = await Store.OpenKnownAsync(commit.Digest, commit.Size, None);
        Assert.Equal(content, await ReadAllAsync(known!, 0, commit.Size));

        // Deleted behind the index's back: OpenAsync asks (HeadObject) and finds nothing; OpenKnownAsync does not ask,
        // and the read's GetObject is what finds the object missing.
        await S3.Client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = S3rverServer.Bucket, Key = S3.GetKey(commit.Digest) });
        Assert.Null(await Store.OpenAsync(commit.Digest, None));
        var blind = await Store.OpenKnownAsync(commit.Digest, commit.Size, None);
        Assert.NotNull(blind);
        var e = await Assert.ThrowsAsync<CacheException>(() => blind.OpenReadAsync(None));
        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task List_skips_keys_that_are_not_blobs()
    {
        var commit = await Store.WriteAsync(RandomBytes(50, 41), null, None);
        var hex = commit.Digest.ToHex();
        var blobs = S3.Options.KeyPrefix + "blobs/";
        foreach (var junk in (string[])[blobs + "zz/" + hex, blobs + hex[..2] + "/" + hex.ToUpperInvariant(), blobs + hex[..2] + "/" + hex + ".tmp", blobs + "readme", S3.Options.KeyPrefix + "uploads/x"])
        {
            await S3.Client.PutObjectAsync(new PutObjectRequest { BucketName = S3rverServer.Bucket, Key = junk, ContentBody = "junk", UseChunkEncoding = false });
        }

        var listed = await ListAllAsync();

        Assert.Equal([commit.Digest], listed.Select(b => b.Digest));
    }

    [Fact]
    public async Task Stores_with_different_prefixes_on_one_bucket_do_not_see_each_others_blobs()
    {
        var other = NewStore(_server.Options(NewPrefix()));
        var mine = await Store.WriteAsync(RandomBytes(700, 42), null, None);
        var theirs = await other.WriteAsync(RandomBytes(700, 43), null, None);

        Assert.Null(await Store.OpenAsync(theirs.Digest, None));
        Assert.Null(await other.OpenAsync(mine.Digest, None));
        Assert.Equal([theirs.Digest], await Store.FindMissingAsync([mine.Digest, theirs.Digest], None));
        Assert.Equal([mine.Digest], (await ListAllAsync()).Select(b => b.Digest));
        Assert.False(await other.DeleteAsync(mine.Digest, None));
        Assert.NotNull(await Store.OpenAsync(mine.Digest, None));
    }

    [Fact]
    public async Task Find_missing_asks_many_digests_in_bounded_parallel()
    {
        var stored = new List<BlobDigest>();
        for (var i = 0; i < 20; i++)
        {
            stored.Add((await Store.WriteAsync(RandomBytes(10 + i, 500 + i), null, None)).Digest);
        }

        var absent = Enumerable.Range(0, 60).Select(i => BlobDigest.Compute(RandomBytes(8, 600 + i))).ToList();

        var missing = await Store.FindMissingAsync(stored.Concat(absent).ToList(), None);

        Assert.Equal(absent.OrderBy(d => d), missing.OrderBy(d => d));
    }

    [Fact]
    public async Task Presigned_download_urls_are_fetchable_when_enabled()
    {
        var content = RandomBytes(10_000, 44);
        var presigning = NewStore(_server.Options(NewPrefix()) with { PresignDownloads = true, PresignLifetime = TimeSpan.FromMinutes(5) });
        var commit = await presigning.WriteAsync(content, null, None);
        var handle = (await presigning.OpenAsync(commit.Digest, None))!;

        var url = await handle.GetDownloadUriAsync(None);

        Assert.NotNull(url);
        Assert.Equal("http", url.Scheme);
        using var http = new HttpClient();
        Assert.Equal(content, await http.GetByteArrayAsync(url));
        Assert.Null(await (await presigning.OpenAsync(BlobDigest.Empty, None))!.GetDownloadUriAsync(None));
    }

    [Fact]
    public async Task Download_urls_are_not_offered_by_default()
    {
        var commit = await Store.WriteAsync(RandomBytes(100, 45), null, None);

        Assert.Null(await (await Store.OpenAsync(commit.Digest, None))!.GetDownloadUriAsync(None));
    }

    [Fact]
    public async Task A_missing_bucket_is_unavailable_naming_the_bucket()
    {
        var store = NewStore(_server.Options(NewPrefix()) with { Bucket = "no-such-bucket" });

        var e = await Assert.ThrowsAsync<CacheException>(() => store.CheckHealthAsync(None));

        Assert.Equal(CacheError.Unavailable, e.Error);
        Assert.Contains("'no-such-bucket'", e.Message);
        Assert.Contains("does not exist", e.Message);
    }
}
