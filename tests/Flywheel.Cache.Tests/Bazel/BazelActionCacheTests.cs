using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Google.Protobuf;
using static Flywheel.Cache.Tests.Bazel.BazelFixtures;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>The action cache half of <see cref="BazelCache"/>: completeness checks, uploads, inlining.</summary>
public sealed class BazelActionCacheTests : BazelCacheFixture
{
    private static readonly BazelDigest Action = DigestOf("action");

    /// <summary>Stores every blob the nested-tree result references, except those named in <paramref name="skip"/>.</summary>
    private async Task<(ActionResult Result, Tree Tree)> StoreCompleteAsync(params string[] skip)
    {
        var (tree, _, _, _, _) = NestedTree();
        foreach (var text in new[] { "out", "err", "tool", "a", "b", "c" }.Except(skip))
        {
            await PutAsync(text);
        }

        if (!skip.Contains("tree"))
        {
            await PutAsync(tree);
        }

        return (Result(tree, "out", "err", "tool"), tree);
    }

    [Fact]
    public async Task A_complete_entry_round_trips_byte_for_byte()
    {
        var (result, _) = await StoreCompleteAsync();
        var bytes = result.ToByteArray();

        await Cache.PutActionResultAsync(Main, Action, bytes, None);

        Assert.Equal(bytes, await Cache.GetActionResultAsync(Main, Action, None));
        Assert.Equal(result, await Cache.GetActionResultMessageAsync(Main, Action, false, false, null, None));
    }

    [Fact]
    public async Task An_unknown_action_is_a_miss()
    {
        Assert.Null(await Cache.GetActionResultAsync(Main, Action, None));
        Assert.Null(await Cache.GetActionResultMessageAsync(Main, Action, true, true, ["x"], None));
    }

    [Theory]
    [InlineData("tool")] // an output file
    [InlineData("out")] // stdout
    [InlineData("err")] // stderr
    [InlineData("c")] // a file two levels down in an output directory's tree
    [InlineData("tree")] // the tree itself
    public async Task An_entry_with_a_missing_blob_is_a_miss(string missing)
    {
        var (result, _) = await StoreCompleteAsync(missing);
        await Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None);

        Assert.Null(await Cache.GetActionResultAsync(Main, Action, None));
        Assert.Null(await Cache.GetActionResultMessageAsync(Main, Action, false, false, null, None));
    }

    [Fact]
    public async Task The_completeness_check_asks_the_index_once_for_all_blobs()
    {
        var (result, _) = await StoreCompleteAsync();
        await Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None);
        IndexCalls.Calls.Clear();

        Assert.NotNull(await Cache.GetActionResultAsync(Main, Action, None));

        Assert.Equal(1, IndexCalls.Count(nameof(Flywheel.Cache.Index.IMetadataIndex.GetActionResultAsync)));
        Assert.Equal(1, IndexCalls.Count(nameof(Flywheel.Cache.Index.IMetadataIndex.FindMissingSizedBlobsAsync)));
    }

    [Fact]
    public async Task Entries_belong_to_their_cache()
    {
        var (result, _) = await StoreCompleteAsync();
        var other = await new Flywheel.Cache.Caches.CacheCatalog(Index, Time).CreateAsync("other", true, 40, None);

        await Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None);

        Assert.Null(await Cache.GetActionResultAsync(other, Action, None));
    }

    [Fact]
    public async Task Garbage_is_not_an_action_result()
    {
        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.PutActionResultAsync(Main, Action, new byte[] { 0xff, 0xff, 0xff }, None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.StartsWith("not a serialized ActionResult: ", e.Message);
        Assert.Null(await Cache.GetActionResultAsync(Main, Action, None));
    }

    [Fact]
    public async Task A_result_with_a_malformed_digest_is_refused()
    {
        var result = Result(outputs: "tool");
        result.OutputFiles[0].Digest.Hash = "abc";

        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("output_files[0]", e.Message);
    }

    [Fact]
    public async Task A_result_over_the_size_limit_is_too_large()
    {
        var e = await Assert.ThrowsAsync<CacheException>(() =>
            Cache.PutActionResultAsync(Main, Action, new byte[Cache.Limits.MaxActionResultBytes + 1], None));

        Assert.Equal(CacheError.TooLarge, e.Error);
    }

    [Fact]
    public async Task A_later_put_replaces_the_entry()
    {
        var (result, _) = await StoreCompleteAsync();
        await Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None);
        var replaced = result.Clone();
        replaced.ExitCode = 3;

        await Cache.PutActionResultAsync(Main, Action, replaced.ToByteArray(), None);

        Assert.Equal(3, (await Cache.GetActionResultMessageAsync(Main, Action, false, false, null, None))!.ExitCode);
    }

    [Fact]
    public async Task Inlining_fills_what_was_asked_from_the_cas()
    {
        var (result, _) = await StoreCompleteAsync();
        await Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None);

        var inlined = (await Cache.GetActionResultMessageAsync(Main, Action, true, false, ["bin/tool", "bin/unknown"], None))!;

        Assert.Equal("out", inlined.StdoutRaw.ToStringUtf8());
        Assert.True(inlined.StderrRaw.IsEmpty);
        Assert.Equal("tool", inlined.OutputFiles.Single().Contents.ToStringUtf8());
        Assert.Equal(result.StdoutDigest, inlined.StdoutDigest);
        Assert.Equal(result.ToByteArray(), await Cache.GetActionResultAsync(Main, Action, None));
    }

    [Fact]
    public async Task Inlining_stays_within_the_budget()
    {
        await PutAsync("tool");
        var big = await PutAsync(new string('x', (int)Cache.Limits.MaxInlineBytes));
        var result = Result(stdout: "tool", stderr: "tool", outputs: "tool");
        result.StdoutDigest = big.ToProto();
        await Cache.PutActionResultAsync(Main, Action, result.ToByteArray(), None);

        var inlined = (await Cache.GetActionResultMessageAsync(Main, Action, true, true, ["bin/tool"], None))!;

        Assert.Equal(Cache.Limits.MaxInlineBytes, inlined.StdoutRaw.Length);
        Assert.True(inlined.StderrRaw.IsEmpty);
        Assert.True(inlined.OutputFiles[0].Contents.IsEmpty);
    }

    [Fact]
    public async Task Update_moves_inline_bytes_into_the_cas_and_stores_the_canonical_form()
    {
        var result = new ActionResult
        {
            StdoutRaw = ByteString.CopyFromUtf8("inline out"),
            StderrRaw = ByteString.CopyFromUtf8("inline err"),
            StderrDigest = DigestOf("inline err").ToProto(),
            OutputFiles = { new OutputFile { Path = "bin/x", Contents = ByteString.CopyFromUtf8("file"), Digest = DigestOf("file").ToProto() } },
        };

        var stored = await Cache.UpdateActionResultAsync(Main, Action, result, None);

        Assert.True(stored.StdoutRaw.IsEmpty && stored.StderrRaw.IsEmpty && stored.OutputFiles[0].Contents.IsEmpty);
        Assert.Equal(DigestOf("inline out").ToProto(), stored.StdoutDigest);
        Assert.Equal(Bytes("inline out"), await ReadAsync(DigestOf("inline out")));
        Assert.Equal(Bytes("file"), await ReadAsync(DigestOf("file")));
        Assert.Equal(stored.ToByteArray(), await Cache.GetActionResultAsync(Main, Action, None));
        Assert.False(result.StdoutRaw.IsEmpty); // the caller's message is left alone
    }

    [Fact]
    public async Task Update_refuses_inline_bytes_that_contradict_their_digest()
    {
        var result = new ActionResult { StdoutRaw = ByteString.CopyFromUtf8("actual"), StdoutDigest = DigestOf("claimed").ToProto() };

        var e = await Assert.ThrowsAsync<CacheException>(() => Cache.UpdateActionResultAsync(Main, Action, result, None));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Null(await Cache.GetActionResultAsync(Main, Action, None));
    }

    [Fact]
    public async Task A_damaged_stored_entry_is_a_miss()
    {
        await Index.PutActionResultAsync(Main.Id, Action.Hash, new byte[] { 0xff, 0xff }, Time.GetUtcNow(), None);

        Assert.Null(await Cache.GetActionResultAsync(Main, Action, None));
    }
}
