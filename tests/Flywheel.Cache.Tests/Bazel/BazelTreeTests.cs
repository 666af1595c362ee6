using System.Text;
using Flywheel.Cache.Bazel;
using Google.Protobuf;
using static Flywheel.Cache.Tests.Bazel.BazelFixtures;
using RemoteDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>GetTree: breadth-first walk, paging and page tokens.</summary>
public sealed class BazelTreeTests : BazelCacheFixture
{
    private async Task<(BazelDigest Root, RemoteDirectory[] BreadthFirst)> StoreNestedAsync()
    {
        var (_, root, sub, deeper, other) = NestedTree();
        foreach (var directory in new[] { root, sub, deeper, other })
        {
            await PutAsync(directory);
        }

        return (DigestOf(root), [root, other, sub, deeper]);
    }

    /// <summary>A root with <paramref name="count"/> distinct empty-ish subdirectories.</summary>
    private async Task<(BazelDigest Root, List<RemoteDirectory> All)> StoreWideAsync(int count)
    {
        var root = new RemoteDirectory();
        var children = new List<RemoteDirectory>();
        for (var i = 0; i < count; i++)
        {
            var child = new RemoteDirectory { Files = { File($"f{i}", $"content {i}") } };
            children.Add(child);
            root.Directories.Add(Node($"d{i:D4}", child));
            await PutAsync(child);
        }

        await PutAsync(root);
        return (DigestOf(root), [root, .. children]);
    }

    private async Task<List<RemoteDirectory>> AllPagesAsync(BazelDigest root, int pageSize)
    {
        var all = new List<RemoteDirectory>();
        string? token = null;
        do
        {
            var page = await Cache.GetTreeAsync(Main, root, pageSize, token, None);
            Assert.NotEmpty(page.Directories);
            Assert.True(pageSize <= 0 || page.Directories.Count <= pageSize);
            all.AddRange(page.Directories);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        return all;
    }

    [Fact]
    public async Task The_whole_tree_comes_breadth_first_in_one_page_by_default()
    {
        var (root, expected) = await StoreNestedAsync();

        var page = await Cache.GetTreeAsync(Main, root, 0, null, None);

        Assert.Equal(expected, page.Directories);
        Assert.Equal("", page.NextPageToken);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(100)]
    public async Task Pages_put_together_give_the_whole_tree(int pageSize)
    {
        var (root, expected) = await StoreNestedAsync();

        Assert.Equal(expected, await AllPagesAsync(root, pageSize));
    }

    [Fact]
    public async Task Pages_of_a_wide_tree_cover_every_directory_once()
    {
        var (root, all) = await StoreWideAsync(250);

        Assert.Equal(all, await AllPagesAsync(root, 7));
    }

    [Fact]
    public async Task Missing_subdirectories_are_left_out_and_a_missing_root_is_not_found()
    {
        var (_, root, sub, _, other) = NestedTree();
        await PutAsync(root);
        await PutAsync(other); // sub and deeper are missing

        var page = await Cache.GetTreeAsync(Main, DigestOf(root), 0, null, None);

        Assert.Equal([root, other], page.Directories);
        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.GetTreeAsync(Main, DigestOf(sub), 0, null, None));
        Assert.Equal(CacheError.NotFound, e.Error);
    }

    [Fact]
    public async Task A_directory_reached_twice_is_returned_once()
    {
        var shared = new RemoteDirectory { Files = { File("x", "x") } };
        var root = new RemoteDirectory { Directories = { Node("a", shared), Node("b", shared) } };
        await PutAsync(shared);
        await PutAsync(root);

        Assert.Equal([root, shared], (await Cache.GetTreeAsync(Main, DigestOf(root), 0, null, None)).Directories);
    }

    [Theory]
    [InlineData("not base64 !")]
    [InlineData("dDEvYWJj")] // base64url of "t1/abc"
    public async Task Foreign_page_tokens_are_invalid(string token)
    {
        var (root, _) = await StoreNestedAsync();

        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.GetTreeAsync(Main, root, 1, token, None));
        Assert.Equal(CacheError.Invalid, e.Error);
    }

    [Fact]
    public async Task An_empty_page_token_is_the_first_page()
    {
        var (root, _) = await StoreNestedAsync();

        Assert.Equal(4, (await Cache.GetTreeAsync(Main, root, 0, "", None)).Directories.Count);
    }

    [Fact]
    public async Task A_page_token_of_another_tree_is_invalid()
    {
        var (root, _) = await StoreNestedAsync();
        var (wide, _) = await StoreWideAsync(3);
        var token = (await Cache.GetTreeAsync(Main, wide, 1, null, None)).NextPageToken;

        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.GetTreeAsync(Main, root, 1, token, None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("not issued", e.Message);
    }

    [Fact]
    public async Task A_forged_position_is_invalid()
    {
        var (root, expected) = await StoreNestedAsync();
        var forged = Convert.ToBase64String(Encoding.ASCII.GetBytes($"t1/{root}/2/{DigestOf(expected[0])}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var pastEnd = Convert.ToBase64String(Encoding.ASCII.GetBytes($"t1/{root}/9/{DigestOf(expected[0])}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        Assert.Equal(CacheError.Invalid, (await Assert.ThrowsAsync<CacheException>(() => Cache.GetTreeAsync(Main, root, 1, forged, None))).Error);
        Assert.Equal(CacheError.Invalid, (await Assert.ThrowsAsync<CacheException>(() => Cache.GetTreeAsync(Main, root, 1, pastEnd, None))).Error);
    }

    [Fact]
    public async Task The_walk_yields_digests_with_directories()
    {
        var (root, expected) = await StoreNestedAsync();

        var walked = new List<TreeDirectory>();
        await foreach (var entry in Cache.WalkTreeAsync(Main, root, None))
        {
            walked.Add(entry);
        }

        Assert.Equal(expected, walked.Select(w => w.Directory));
        Assert.All(walked, w => Assert.Equal(DigestOf(w.Directory), w.Digest));
    }
}
