using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.S3;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Storage;

/// <summary>
/// Multipart uploads against s3rver with the smallest part size S3 allows (5 MiB): blobs over a part round trip,
/// and a mismatch, an abandoned write or a crash leave nothing under blobs/ and no pending upload.
/// </summary>
[Collection(S3rverServer.Collection)]
public sealed class S3BlobStoreUploadTests : IDisposable
{
    private const int PartSize = 5 << 20;
    private static readonly int[] OddChunks = [1, 7, 4093, 65_537, 131_071, 3, 1_000_003];

    private readonly S3rverServer _server;
    private readonly S3BlobStore _store;

    public S3BlobStoreUploadTests(S3rverServer server)
    {
        _server = server;
        _store = new S3BlobStore(server.Options("u-" + Guid.NewGuid().ToString("N")[..12] + "/", PartSize));
    }

    public void Dispose() => _store.Dispose();

    private static CancellationToken None => CancellationToken.None;

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task WriteInOddChunksAsync(IBlobWriter writer, byte[] content, int upTo)
    {
        var offset = 0;
        for (var i = 0; offset < upTo; i++)
        {
            var n = Math.Min(OddChunks[i % OddChunks.Length], upTo - offset);
            await writer.WriteAsync(content.AsMemory(offset, n), None);
            offset += n;
        }
    }

    private async Task<List<string>> ObjectKeysAsync()
    {
        var keys = new List<string>();
        await foreach (var obj in _store.ListObjectsAsync(_store.Options.KeyPrefix, None))
        {
            keys.Add(obj.Key);
        }

        return keys;
    }

    private async Task<List<MultipartUpload>> PendingUploadsAsync()
    {
        var list = await _store.Client.ListMultipartUploadsAsync(
            new ListMultipartUploadsRequest { BucketName = S3rverServer.Bucket, Prefix = _store.Options.KeyPrefix });
        return list.MultipartUploads ?? [];
    }

    private static async Task<byte[]> ReadAsync(BlobHandle handle, long offset, long count)
    {
        await using var stream = await handle.OpenReadAsync(offset, count, None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_three_part_blob_round_trips_and_reads_back_in_ranges(bool hinted)
    {
        var content = RandomBytes((12 << 20) + 12_345, hinted ? 1 : 2);
        var digest = BlobDigest.Compute(content);

        await using (var writer = await _store.BeginWriteAsync(hinted ? digest : null, None))
        {
            await WriteInOddChunksAsync(writer, content, content.Length);
            Assert.Single(await PendingUploadsAsync()); // two parts out, the third still in memory
            Assert.Empty(await ObjectKeysAsync());

            var commit = await writer.CommitAsync(digest, None);

            Assert.Equal(new BlobCommit(digest, content.Length, AlreadyExisted: false), commit);
        }

        Assert.Equal([_store.GetKey(digest)], await ObjectKeysAsync()); // no temporary object left behind
        Assert.Empty(await PendingUploadsAsync());
        var handle = (await _store.OpenAsync(digest, None))!;
        Assert.Equal(content.Length, handle.Length);
        Assert.Equal(digest, BlobDigest.FromBytes(SHA256.HashData(await ReadAsync(handle, 0, content.Length))));
        Assert.Equal(content.AsSpan(PartSize - 100, 200).ToArray(), await ReadAsync(handle, PartSize - 100, 200)); // across a part boundary
        Assert.Equal(content.AsSpan(content.Length - 7).ToArray(), await ReadAsync(handle, content.Length - 7, 7));
        Assert.Equal(content.AsSpan(3, 1).ToArray(), await ReadAsync(handle, 3, 1));
    }

    [Fact]
    public async Task A_blob_of_exactly_one_part_is_a_single_put()
    {
        var content = RandomBytes(PartSize, 3);
        var digest = BlobDigest.Compute(content);

        await using var writer = await _store.BeginWriteAsync(digest, None);
        await writer.WriteAsync(content, None);
        Assert.Empty(await PendingUploadsAsync());
        await writer.CommitAsync(digest, None);

        Assert.Equal(content.Length, (await _store.OpenAsync(digest, None))!.Length);
    }

    [Fact]
    public async Task Part_buffers_are_bounded_a_write_waits_for_one_and_every_ending_returns_it()
    {
        using var store = new S3BlobStore(_server.Options("p-" + Guid.NewGuid().ToString("N")[..12] + "/", PartSize) with { MaxPartBuffers = 1 });
        var first = RandomBytes((7 << 20) + 5, 4);
        var second = RandomBytes((6 << 20) + 9, 5);

        await using (var abandoned = await store.BeginWriteAsync(null, None))
        {
            await abandoned.WriteAsync(first.AsMemory(0, 2 << 20), None); // holds the only part buffer until disposed
        }

        await using var one = await store.BeginWriteAsync(BlobDigest.Compute(first), None);
        await one.WriteAsync(first.AsMemory(0, 2 << 20), None); // the only part buffer again: it was returned
        await using var two = await store.BeginWriteAsync(BlobDigest.Compute(second), None);
        await two.WriteAsync(second.AsMemory(0, 1 << 20), None); // up to 1 MiB needs no part buffer
        var waiting = two.WriteAsync(second.AsMemory(1 << 20), None).AsTask();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);

        await one.WriteAsync(first.AsMemory(2 << 20), None);
        await one.CommitAsync(BlobDigest.Compute(first), None);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<CacheException>(() => two.CommitAsync(BlobDigest.Compute(first), None)); // a mismatch returns it too

        await using var three = await store.BeginWriteAsync(null, None);
        await three.WriteAsync(second, None);
        Assert.Equal(BlobDigest.Compute(second), (await three.CommitAsync(null, None)).Digest);
        Assert.Equal(first.Length, (await store.OpenAsync(BlobDigest.Compute(first), None))!.Length);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_multipart_upload_whose_hash_mismatches_leaves_nothing(bool hinted)
    {
        var content = RandomBytes(11 << 20, 4);
        var claimed = BlobDigest.Compute("not these bytes"u8);

        await using (var writer = await _store.BeginWriteAsync(hinted ? claimed : null, None))
        {
            await WriteInOddChunksAsync(writer, content, content.Length);
            Assert.Single(await PendingUploadsAsync());

            var e = await Assert.ThrowsAsync<CacheException>(() => writer.CommitAsync(claimed, None));

            Assert.Equal(CacheError.Invalid, e.Error);
        }

        Assert.Empty(await ObjectKeysAsync());
        Assert.Empty(await PendingUploadsAsync());
        Assert.Null(await _store.OpenAsync(claimed, None));
        Assert.Null(await _store.OpenAsync(BlobDigest.Compute(content), None));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_writer_disposed_halfway_through_a_multipart_upload_leaves_nothing(bool hinted)
    {
        var content = RandomBytes(14 << 20, 5);
        var digest = BlobDigest.Compute(content);

        await using (var writer = await _store.BeginWriteAsync(hinted ? digest : null, None))
        {
            await WriteInOddChunksAsync(writer, content, 7 << 20);
            var pending = Assert.Single(await PendingUploadsAsync());
            Assert.Equal(hinted, pending.Key == _store.GetKey(digest)); // hinted: the final key, else under uploads/
        }

        Assert.Empty(await PendingUploadsAsync());
        Assert.Empty(await ObjectKeysAsync());
        Assert.Null(await _store.OpenAsync(digest, None));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_multipart_write_of_a_stored_blob_leaves_one_object_and_no_upload(bool hinted)
    {
        var content = RandomBytes(6 << 20, 6);
        var digest = BlobDigest.Compute(content);
        await _store.WriteAsync(content, digest, None);
        var calls = new List<string>();
        using var recorded = new S3BlobStore(_store.Options, CallRecorder<IAmazonS3>.Wrap(_store.Client, calls));

        await using var writer = await recorded.BeginWriteAsync(hinted ? digest : null, None);
        await WriteInOddChunksAsync(writer, content, content.Length);
        var again = await writer.CommitAsync(digest, None);

        // Hinted, the parts went to the final key already: completing the upload writes the same bytes, with no
        // HeadObject first. Staged under a temporary key, a HeadObject finds the blob and saves the copy.
        Assert.Equal(!hinted, again.AlreadyExisted);
        Assert.Equal(hinted, !calls.Contains("GetObjectMetadataAsync"));
        Assert.Empty(await PendingUploadsAsync());
        Assert.Equal([_store.GetKey(digest)], await ObjectKeysAsync());
        Assert.Equal(content, await ReadAsync((await _store.OpenAsync(digest, None))!, 0, content.Length));
    }

    [Fact]
    public async Task Stale_uploads_and_temporary_objects_are_swept_and_fresh_ones_kept()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        using var sweeper = new S3BlobStore(_store.Options, clock);
        var content = RandomBytes(6 << 20, 7);
        var crashed = new List<IBlobWriter>();
        foreach (var hint in (BlobDigest?[])[BlobDigest.Compute(content), null])
        {
            var writer = await _store.BeginWriteAsync(hint, None); // never committed nor disposed: a crash
            await WriteInOddChunksAsync(writer, content, content.Length);
            crashed.Add(writer);
        }

        var leftover = _store.Options.KeyPrefix + "uploads/" + Guid.NewGuid().ToString("N"); // crash between complete and copy
        await _store.Client.PutObjectAsync(new PutObjectRequest { BucketName = S3rverServer.Bucket, Key = leftover, ContentBody = "x", UseChunkEncoding = false });
        Assert.Equal(2, (await PendingUploadsAsync()).Count);

        Assert.Equal(0, await sweeper.AbortStaleUploadsAsync(TimeSpan.FromHours(1), None));
        Assert.Equal(2, (await PendingUploadsAsync()).Count);

        clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(3, await sweeper.AbortStaleUploadsAsync(TimeSpan.FromHours(1), None));

        Assert.Empty(await PendingUploadsAsync());
        Assert.Empty(await ObjectKeysAsync());
        foreach (var writer in crashed)
        {
            await writer.DisposeAsync(); // its abort finds the upload gone; no error
        }
    }
}
