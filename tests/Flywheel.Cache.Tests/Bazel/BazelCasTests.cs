using System.Diagnostics;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Storage;
using static Flywheel.Cache.Tests.Bazel.BazelFixtures;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>The CAS half of <see cref="BazelCache"/> against the real disk store and SQLite index.</summary>
public sealed class BazelCasTests : BazelCacheFixture
{
    [Fact]
    public async Task The_empty_blob_is_always_present_and_opens()
    {
        Assert.Empty(await Cache.FindMissingAsync(Main, [BazelDigest.Empty], None));
        Assert.True(await Cache.ExistsAsync(Main, BazelDigest.Empty, None));
        Assert.Empty((await ReadAsync(BazelDigest.Empty))!);
    }

    [Fact]
    public async Task An_uploaded_blob_is_found_opened_and_indexed()
    {
        var digest = DigestOf("hello");
        Assert.Equal([digest], await Cache.FindMissingAsync(Main, [digest], None));

        await using (var upload = await Cache.BeginUploadAsync(Main, digest, None))
        {
            await upload.WriteAsync(Bytes("hel"));
            await upload.WriteAsync(Bytes("lo"));
            Assert.Equal(5, upload.Committed);
            Assert.Equal(5, upload.Length);
            await upload.CommitAsync();
        }

        Assert.Empty(await Cache.FindMissingAsync(Main, [digest], None));
        Assert.True(await Cache.ExistsAsync(Main, digest, None));
        Assert.Equal(Bytes("hello"), await ReadAsync(digest));
    }

    [Fact]
    public async Task Writing_the_same_blob_twice_is_fine()
    {
        await PutAsync("twice");
        await PutAsync("twice");

        Assert.Equal(Bytes("twice"), await ReadAsync(DigestOf("twice")));
    }

    [Fact]
    public async Task A_blob_with_the_wrong_hash_is_rejected_and_nothing_is_stored()
    {
        var claimed = DigestOf("right");

        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.PutAsync(Main, claimed, Bytes("wrong"), None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains(claimed.ToString(), e.Message);
        Assert.Contains(BlobDigest.Compute(Bytes("wrong")).ToHex(), e.Message);
        Assert.False(await StoredAnywhereAsync(BlobDigest.Compute(Bytes("wrong"))));
        Assert.False(await StoredAnywhereAsync(claimed.Hash));
    }

    [Fact]
    public async Task A_blob_shorter_than_its_size_is_rejected_and_nothing_is_stored()
    {
        var claimed = DigestOf("hello") with { SizeBytes = 6 };

        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.PutAsync(Main, claimed, Bytes("hello"), None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains(claimed.ToString(), e.Message);
        Assert.Contains("5 bytes", e.Message);
        Assert.False(await StoredAnywhereAsync(claimed.Hash));
    }

    [Fact]
    public async Task A_blob_longer_than_its_size_is_refused_at_the_first_extra_byte()
    {
        var claimed = DigestOf("hello") with { SizeBytes = 4 };
        await using var upload = await Cache.BeginUploadAsync(Main, claimed, None);

        await upload.WriteAsync(Bytes("hell"));
        var e = await Assert.ThrowsAsync<CacheException>(async () => await upload.WriteAsync(Bytes("o")));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.False(await StoredAnywhereAsync(claimed.Hash));
    }

    [Fact]
    public async Task An_upload_disposed_without_commit_leaves_nothing()
    {
        var digest = DigestOf("interrupted");
        await using (var upload = await Cache.BeginUploadAsync(Main, digest, None))
        {
            await upload.WriteAsync(Bytes("interr"));
        }

        Assert.Equal([digest], await Cache.FindMissingAsync(Main, [digest], None));
        Assert.Null(await Cache.OpenAsync(Main, digest, None));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(Blobs.Root, ".tmp")));
    }

    [Fact]
    public async Task Blobs_over_the_size_limit_are_refused_before_any_byte()
    {
        var e = await Assert.ThrowsAsync<CacheException>(async () =>
            await Cache.BeginUploadAsync(Main, DigestOf("x") with { SizeBytes = Cache.Limits.MaxBlobBytes + 1 }, None));

        Assert.Equal(CacheError.TooLarge, e.Error);
    }

    [Fact]
    public async Task A_zstd_upload_is_verified_and_stored_uncompressed()
    {
        var content = Bytes(string.Concat(Enumerable.Repeat("compressible ", 10_000)));
        var digest = BazelDigest.Compute(content);
        var compressed = ZstdCompressor.CompressAll(content);

        await using (var upload = await Cache.BeginUploadAsync(Main, digest, BlobCompressor.Zstd, None))
        {
            foreach (var chunk in compressed.Chunk(100))
            {
                await upload.WriteAsync(chunk);
            }

            Assert.Equal(compressed.Length, upload.Committed);
            await upload.CommitAsync();
        }

        Assert.Equal(content, await ReadAsync(digest));
    }

    [Fact]
    public async Task A_zstd_upload_that_decompresses_past_its_size_is_refused()
    {
        var content = new byte[1_000_000];
        var claimed = BazelDigest.Compute(content) with { SizeBytes = 1000 };

        await using var upload = await Cache.BeginUploadAsync(Main, claimed, BlobCompressor.Zstd, None);
        var e = await Assert.ThrowsAsync<CacheException>(async () => await upload.WriteAsync(ZstdCompressor.CompressAll(content)));

        Assert.Equal(CacheError.Invalid, e.Error);
    }

    [Fact]
    public async Task A_blob_asked_for_at_another_size_is_missing_and_does_not_open()
    {
        var digest = await PutAsync("sized");
        var wrongSize = digest with { SizeBytes = 99 };

        Assert.Equal([wrongSize], await Cache.FindMissingAsync(Main, [digest, wrongSize], None));
        Assert.False(await Cache.ExistsAsync(Main, wrongSize, None));
        Assert.Null(await Cache.OpenAsync(Main, wrongSize, None));
        Assert.Equal([BazelDigest.Empty with { SizeBytes = 1 }], await Cache.FindMissingAsync(Main, [BazelDigest.Empty with { SizeBytes = 1 }], None));
    }

    [Fact]
    public async Task Find_missing_for_ten_thousand_digests_is_one_index_query()
    {
        var present = new List<BazelDigest>();
        for (var i = 0; i < 20; i++)
        {
            present.Add(await PutAsync($"present {i}"));
        }

        var asked = Enumerable.Range(0, 10_000).Select(i => DigestOf($"absent {i}")).Concat(present).Append(BazelDigest.Empty).ToList();
        IndexCalls.Calls.Clear();

        var clock = Stopwatch.StartNew();
        var missing = await Cache.FindMissingAsync(Main, asked, None);
        clock.Stop();

        Assert.Equal(asked.Take(10_000), missing);
        Assert.Equal(1, IndexCalls.Calls.Values.Sum());
        Assert.Equal(1, IndexCalls.Count(nameof(Flywheel.Cache.Index.IMetadataIndex.FindMissingSizedBlobsAsync)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"10,000 digests took {clock.Elapsed}");
    }
}
