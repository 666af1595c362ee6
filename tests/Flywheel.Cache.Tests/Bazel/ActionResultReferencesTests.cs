using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using static Flywheel.Cache.Tests.Bazel.BazelFixtures;

namespace Flywheel.Cache.Tests.Bazel;

public sealed class ActionResultReferencesTests
{
    private static Func<BazelDigest, CancellationToken, ValueTask<Tree?>> Trees(params Tree[] trees) =>
        (digest, _) => ValueTask.FromResult(trees.FirstOrDefault(t => DigestOf(t) == digest));

    [Fact]
    public async Task Collects_outputs_stdio_trees_and_every_file_inside_nested_trees_once()
    {
        var (tree, _, _, _, _) = NestedTree();
        var result = Result(tree, "out", "err", "tool", "lib");

        var digests = await ActionResultReferences.CollectAsync(result, Trees(tree), CancellationToken.None);

        Assert.NotNull(digests);
        var expected = new[] { "tool", "lib", "out", "err", "a", "b", "c" }.Select(DigestOf).Append(DigestOf(tree)).ToHashSet();
        Assert.Equal(expected, digests.ToHashSet());
        Assert.Equal(expected.Count, digests.Count);
    }

    [Fact]
    public async Task A_result_without_outputs_references_nothing_and_symlinks_reference_nothing()
    {
        var result = new ActionResult { ExitCode = 1, OutputSymlinks = { new OutputSymlink { Path = "x", Target = "y" } } };

        var digests = await ActionResultReferences.CollectAsync(result, Trees(), CancellationToken.None);

        Assert.Empty(digests!);
    }

    [Fact]
    public async Task A_tree_that_cannot_be_read_makes_the_result_unprovable()
    {
        var (tree, _, _, _, _) = NestedTree();

        Assert.Null(await ActionResultReferences.CollectAsync(Result(tree), Trees(), CancellationToken.None));
    }

    [Fact]
    public async Task Root_directory_digest_is_a_reference_when_given()
    {
        var (tree, root, _, _, _) = NestedTree();
        var result = Result(tree);
        result.OutputDirectories[0].RootDirectoryDigest = DigestOf(root).ToProto();

        var digests = await ActionResultReferences.CollectAsync(result, Trees(tree), CancellationToken.None);

        Assert.Contains(DigestOf(root), digests!);
    }

    [Fact]
    public void A_well_formed_result_validates()
    {
        var (tree, _, _, _, _) = NestedTree();

        ActionResultReferences.Validate(Result(tree, "o", "e", "tool"));
        ActionResultReferences.Validate(new ActionResult());
    }

    public static TheoryData<string, Action<ActionResult>> Malformed => new()
    {
        { "output_files[0] (bin/tool) digest", r => r.OutputFiles[0].Digest.Hash = "nothex" },
        { "output_files[0] (bin/tool) digest", r => r.OutputFiles[0].Digest = null },
        { "output_files[0] has no path", r => r.OutputFiles[0].Path = "" },
        { "is absolute", r => r.OutputFiles[0].Path = "/etc/passwd" },
        { "stdout_digest", r => r.StdoutDigest.SizeBytes = -1 },
        { "stderr_digest", r => r.StderrDigest.Hash = r.StderrDigest.Hash.ToUpperInvariant() },
        { "output_directories[0] (out/dir) tree_digest", r => r.OutputDirectories[0].TreeDigest = null },
        { "output_symlinks[0] (bin/link) has no target", r => r.OutputSymlinks[0].Target = "" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_results_are_invalid_and_the_message_names_the_field(string problem, Action<ActionResult> damage)
    {
        var (tree, _, _, _, _) = NestedTree();
        var result = Result(tree, "o", "e", "tool");
        damage(result);

        var e = Assert.Throws<CacheException>(() => ActionResultReferences.Validate(result));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains(problem, e.Message);
    }
}
