using System.Security.Cryptography;
using System.Text;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Storage;

/// <summary>
/// What every <see cref="IBlobStore"/> must do. Each implementation subclasses this with a fresh, empty store
/// per test; behaviour specific to one backend belongs in the subclass.
/// </summary>
public abstract class BlobStoreContract : IAsyncLifetime
{
    private IBlobStore? _store;

    /// <summary>A new, empty store. Called once per test.</summary>
    protected abstract IBlobStore CreateStore();

    /// <summary>Removes whatever <see cref="CreateStore"/> made.</summary>
    protected virtual Task CleanupAsync() => Task.CompletedTask;

    protected IBlobStore Store => _store ??= CreateStore();

    /// <summary>Whether a commit looks for the blob first and reports one it found (disk); S3 writes the same bytes over it.</summary>
    protected virtual bool ReportsStoredBlobs => true;

    protected static CancellationToken None => CancellationToken.None;

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_store is IAsyncDisposable d)
        {
            await d.DisposeAsync();
        }

        await CleanupAsync();
    }

    protected static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static async Task<byte[]> ReadAllAsync(BlobHandle handle, long offset, long count)
    {
        await using var stream = await handle.OpenReadAsync(offset, count, None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    protected async Task<List<StoredBlob>> ListAllAsync()
    {
        var list = new List<StoredBlob>();
        await foreach (var blob in Store.ListAsync(None))
        {
            list.Add(blob);
        }

        return list;
    }

    [Fact]
    public async Task OpenKnown_reads_a_stored_blob_of_the_given_length()
    {
        var content = RandomBytes(3000, 45);
        var commit = await Store.WriteAsync(content, null, None);
        var handle = await Store.OpenKnownAsync(commit.Digest, commit.Size, None);
        Assert.Equal(commit.Size, handle!.Length);
        Assert.Equal(content, await ReadAllAsync(handle, 0, commit.Size));
    }

    [Fact]
    public async Task Sweeping_incomplete_writes_leaves_a_write_in_flight_alone()
    {
        var data = new byte[300_000];
        Random.Shared.NextBytes(data);
        await using var writer = await Store.BeginWriteAsync(BlobDigest.Compute(data), None);
        await writer.WriteAsync(data.AsMemory(0, 100_000), None);
        Assert.Equal(0, await Store.SweepIncompleteWritesAsync(TimeSpan.FromHours(1), None));
        await writer.WriteAsync(data.AsMemory(100_000), None);
        var commit = await writer.CommitAsync(BlobDigest.Compute(data), None);
        Assert.Equal(data.Length, commit.Size);
    }

    [Fact]
    public async Task Write_commit_and_read_round_trip()
    {
        var content = Encoding.UTF8.GetBytes("hello, flywheel");
        var digest = BlobDigest.Compute(content);

        var commit = await Store.WriteAsync(content, digest, None);

        Assert.Equal(new BlobCommit(digest, content.Length, AlreadyExisted: false), commit);
        var handle = await Store.OpenAsync(digest, None);
        Assert.NotNull(handle);
        Assert.Equal(digest, handle.Digest);
        Assert.Equal(content.Length, handle.Length);
        await using var stream = await handle.OpenReadAsync(None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.Equal(content, copy.ToArray());
    }

    [Fact]
    public async Task Commit_without_an_expected_digest_stores_under_the_computed_one()
    {
        var content = RandomBytes(1000, 1);

        var commit = await Store.WriteAsync(content, expected: null, None);

        Assert.Equal(BlobDigest.Compute(content), commit.Digest);
        Assert.Equal(1000, commit.Size);
        Assert.NotNull(await Store.OpenAsync(commit.Digest, None));
    }

    [Fact]
    public async Task Writer_counts_the_bytes_written()
    {
        await using var writer = await Store.BeginWriteAsync(null, None);
        await writer.WriteAsync(new byte[10], None);
        await writer.WriteAsync(new byte[5], None);
        Assert.Equal(15, writer.Length);
    }

    [Fact]
    public async Task Range_reads_return_exactly_the_range()
    {
        var content = RandomBytes(100_000, 2);
        var commit = await Store.WriteAsync(content, null, None);
        var handle = (await Store.OpenAsync(commit.Digest, None))!;

        Assert.Equal(content.AsSpan(0, 10).ToArray(), await ReadAllAsync(handle, 0, 10));
        Assert.Equal(content.AsSpan(12_345, 54_321).ToArray(), await ReadAllAsync(handle, 12_345, 54_321));
        Assert.Equal(content.AsSpan(99_999, 1).ToArray(), await ReadAllAsync(handle, 99_999, 1));
        Assert.Equal(content.AsSpan(50_000).ToArray(), await ReadAllAsync(handle, 50_000, 50_000));
        Assert.Empty(await ReadAllAsync(handle, 100_000, 0));
        Assert.Empty(await ReadAllAsync(handle, 7, 0));
    }

    [Fact]
    public async Task Range_reads_outside_the_blob_are_rejected()
    {
        var commit = await Store.WriteAsync(RandomBytes(100, 3), null, None);
        var handle = (await Store.OpenAsync(commit.Digest, None))!;

        await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => handle.OpenReadAsync(-1, 10, None));
        await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => handle.OpenReadAsync(0, 101, None));
        await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => handle.OpenReadAsync(90, 11, None));
        await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => handle.OpenReadAsync(101, 0, None));
    }

    [Fact]
    public async Task Digest_mismatch_throws_invalid_naming_both_digests_and_stores_nothing()
    {
        var content = RandomBytes(5000, 4);
        var actual = BlobDigest.Compute(content);
        var claimed = BlobDigest.Compute("something else"u8);

        var e = await Assert.ThrowsAsync<CacheException>(() => Store.WriteAsync(content, claimed, None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains(claimed.ToHex(), e.Message);
        Assert.Contains(actual.ToHex(), e.Message);
        Assert.Null(await Store.OpenAsync(actual, None));
        Assert.Null(await Store.OpenAsync(claimed, None));
        Assert.Empty(await ListAllAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uncommitted_writer_leaves_nothing(bool hinted)
    {
        var content = RandomBytes(70_000, 5);
        await using (var writer = await Store.BeginWriteAsync(hinted ? BlobDigest.Compute(content) : null, None))
        {
            await writer.WriteAsync(content, None);
        }

        Assert.Null(await Store.OpenAsync(BlobDigest.Compute(content), None));
        Assert.Equal([BlobDigest.Compute(content)], await Store.FindMissingAsync([BlobDigest.Compute(content)], None));
        Assert.Empty(await ListAllAsync());
    }

    [Fact]
    public async Task Writing_a_stored_blob_again_leaves_one_intact_blob()
    {
        var content = RandomBytes(3000, 6);
        var first = await Store.WriteAsync(content, null, None);

        var second = await Store.WriteAsync(content, first.Digest, None);

        Assert.False(first.AlreadyExisted);
        Assert.Equal(ReportsStoredBlobs, second.AlreadyExisted);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(first.Size, second.Size);
        Assert.Single(await ListAllAsync());
        Assert.Equal(content, await ReadAllAsync((await Store.OpenAsync(first.Digest, None))!, 0, content.Length));
    }

    [Fact]
    public async Task Concurrent_writes_of_one_blob_leave_one_intact_blob()
    {
        var content = RandomBytes(1 << 20, 7);
        var digest = BlobDigest.Compute(content);

        var commits = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            await using var writer = await Store.BeginWriteAsync(digest, None);
            for (var i = 0; i < content.Length; i += 50_000)
            {
                await writer.WriteAsync(content.AsMemory(i, Math.Min(50_000, content.Length - i)), None);
            }

            return await writer.CommitAsync(digest, None);
        })));

        Assert.All(commits, c => Assert.Equal(digest, c.Digest));
        Assert.Contains(commits, c => !c.AlreadyExisted);
        var handle = (await Store.OpenAsync(digest, None))!;
        Assert.Equal(content.Length, handle.Length);
        Assert.Equal(digest, BlobDigest.Compute(await ReadAllAsync(handle, 0, handle.Length)));
        Assert.Single(await ListAllAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Large_blob_fed_in_odd_sized_chunks_round_trips(bool hinted)
    {
        const int size = 20 << 20;
        var content = RandomBytes(size, 8);
        var digest = BlobDigest.Compute(content);
        int[] chunkSizes = [1, 7, 4093, 65_537, 131_071, 3, 1_000_003];

        await using var writer = await Store.BeginWriteAsync(hinted ? digest : null, None);
        var offset = 0;
        for (var i = 0; offset < size; i++)
        {
            var n = Math.Min(chunkSizes[i % chunkSizes.Length], size - offset);
            await writer.WriteAsync(content.AsMemory(offset, n), None);
            offset += n;
        }

        var commit = await writer.CommitAsync(digest, None);

        Assert.Equal(size, commit.Size);
        var handle = (await Store.OpenAsync(digest, None))!;
        Assert.Equal(size, handle.Length);
        using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            await using var stream = await handle.OpenReadAsync(None);
            var buffer = new byte[81_920];
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                sha.AppendData(buffer, 0, read);
            }

            Assert.Equal(digest, BlobDigest.FromBytes(sha.GetHashAndReset()));
        }

        Assert.Equal(content.AsSpan(size - 1_000_000, 999_999).ToArray(), await ReadAllAsync(handle, size - 1_000_000, 999_999));
    }

    [Fact]
    public async Task Empty_blob_is_always_present()
    {
        Assert.Empty(await Store.FindMissingAsync([BlobDigest.Empty], None));
        var handle = await Store.OpenAsync(BlobDigest.Empty, None);
        Assert.NotNull(handle);
        Assert.Equal(0, handle.Length);
        Assert.Empty(await ReadAllAsync(handle, 0, 0));
    }

    [Fact]
    public async Task Writing_the_empty_blob_commits_it_as_already_present()
    {
        var commit = await Store.WriteAsync(ReadOnlyMemory<byte>.Empty, BlobDigest.Empty, None);

        Assert.Equal(new BlobCommit(BlobDigest.Empty, 0, AlreadyExisted: true), commit);
    }

    [Fact]
    public async Task Open_of_an_unknown_blob_returns_null()
    {
        Assert.Null(await Store.OpenAsync(BlobDigest.Compute("nope"u8), None));
    }

    [Fact]
    public async Task Find_missing_reports_exactly_the_absent_digests_once()
    {
        var stored = new List<BlobDigest>();
        for (var i = 0; i < 5; i++)
        {
            stored.Add((await Store.WriteAsync(RandomBytes(100 + i, 100 + i), null, None)).Digest);
        }

        var absent = Enumerable.Range(0, 5).Select(i => BlobDigest.Compute(RandomBytes(10, 200 + i))).ToList();
        var asked = stored.Concat(absent).Append(absent[0]).Append(BlobDigest.Empty).ToList();

        var missing = await Store.FindMissingAsync(asked, None);

        Assert.Equal(absent.OrderBy(d => d), missing.OrderBy(d => d));
        Assert.Empty(await Store.FindMissingAsync([], None));
    }

    [Fact]
    public async Task Delete_removes_a_blob()
    {
        var commit = await Store.WriteAsync(RandomBytes(500, 9), null, None);

        Assert.True(await Store.DeleteAsync(commit.Digest, None));

        Assert.Null(await Store.OpenAsync(commit.Digest, None));
        Assert.Equal([commit.Digest], await Store.FindMissingAsync([commit.Digest], None));
        Assert.False(await Store.DeleteAsync(commit.Digest, None));
        Assert.Empty(await ListAllAsync());
    }

    [Fact]
    public async Task A_deleted_blob_can_be_written_again()
    {
        var content = RandomBytes(500, 10);
        var commit = await Store.WriteAsync(content, null, None);
        await Store.DeleteAsync(commit.Digest, None);

        var again = await Store.WriteAsync(content, commit.Digest, None);

        Assert.False(again.AlreadyExisted);
        Assert.Equal(content, await ReadAllAsync((await Store.OpenAsync(commit.Digest, None))!, 0, content.Length));
    }

    [Fact]
    public async Task List_returns_every_stored_blob_with_its_size()
    {
        var written = new Dictionary<BlobDigest, long>();
        for (var i = 0; i < 10; i++)
        {
            var commit = await Store.WriteAsync(RandomBytes(1 + (i * 37), 300 + i), null, None);
            written[commit.Digest] = commit.Size;
        }

        var listed = await ListAllAsync();

        Assert.Equal(written.Count, listed.Count);
        Assert.All(listed, b => Assert.Equal(written[b.Digest], b.Size));
        Assert.All(listed, b => Assert.InRange(b.LastModified, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1)));
    }

    [Fact]
    public async Task A_fresh_store_is_healthy()
    {
        await Store.CheckHealthAsync(None);
    }
}
