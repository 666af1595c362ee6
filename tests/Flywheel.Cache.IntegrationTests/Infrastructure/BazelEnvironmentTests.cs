using System.Net;
using System.Net.Sockets;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>The harness itself, against real Bazel 4.2.3 and its own <c>--disk_cache</c> (no server of ours needed),
/// and what Bazel does when a remote cache is unreachable, so later tests can tell a failing cache from a working one.</summary>
public sealed class BazelEnvironmentTests : IAsyncLifetime
{
    private readonly BazelEnvironment _bazel = BazelEnvironment.Require();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _bazel.DisposeAsync();

    [Fact]
    public async Task Disk_cache_serves_every_action_after_clean_expunge_with_identical_outputs()
    {
        _bazel.WriteWorkspace(nameof(Disk_cache_serves_every_action_after_clean_expunge_with_identical_outputs));
        string[] flags = [$"--disk_cache={_bazel.NewDiskCacheDir("disk")}"];

        var first = (await _bazel.BuildAsync(flags)).EnsureSuccess();
        Assert.True(first.HasSummary, first.Describe("printed no summary"));
        Assert.Equal(BazelEnvironment.WorkspaceActions, first.Executed);
        Assert.Equal(0, first.CacheHits);
        var before = await _bazel.OutputDigestsAsync();
        Assert.Equal(BazelEnvironment.LargeOutputBytes, (await _bazel.OutputBytesAsync("//:large.bin")).Length);
        Assert.Empty(await _bazel.OutputBytesAsync(":empty.txt"));
        Assert.Equal($"a {_bazel.Nonce}\n", System.Text.Encoding.UTF8.GetString(await _bazel.OutputBytesAsync("a.txt")));
        Assert.EndsWith($"{BazelEnvironment.LargeOutputBytes}\ncombined {_bazel.Nonce}\n",
            System.Text.Encoding.UTF8.GetString(await _bazel.OutputBytesAsync("combined.txt")));

        await _bazel.CleanExpungeAsync();
        Assert.False(File.Exists(await _bazel.OutputPathAsync("a.txt")));

        var second = (await _bazel.BuildAsync(flags)).EnsureSuccess();
        Assert.True(second.RemoteCacheHits == BazelEnvironment.WorkspaceActions && second.Executed == 0,
            second.Describe("was expected to take every action from the disk cache"));
        Assert.Empty(second.RemoteCacheWarnings);
        Assert.Equal(before, await _bazel.OutputDigestsAsync());
    }

    [Fact]
    public async Task Unreachable_grpc_cache_fails_the_build_before_any_action()
    {
        _bazel.WriteWorkspace(nameof(Unreachable_grpc_cache_fails_the_build_before_any_action));

        var result = (await _bazel.BuildAsync([$"--remote_cache=grpc://127.0.0.1:{LoopbackPorts.Next()}"])).EnsureFailure();

        Assert.Equal(BazelBuildResult.RemoteErrorExitCode, result.ExitCode);
        Assert.Contains(result.Errors, e => e.Contains("Failed to query remote execution capabilities", StringComparison.Ordinal));
        Assert.False(result.HasSummary, result.Describe("ran actions"));
    }

    [Fact]
    public async Task Unreachable_http_cache_only_warns_and_the_build_runs_every_action()
    {
        _bazel.WriteWorkspace(nameof(Unreachable_http_cache_only_warns_and_the_build_runs_every_action));
        var url = $"http://127.0.0.1:{LoopbackPorts.Next()}";

        var result = (await _bazel.BuildAsync([$"--remote_cache={url}"])).EnsureSuccess();
        Assert.Equal(BazelEnvironment.WorkspaceActions, result.Executed);
        Assert.Equal(0, result.CacheHits);
        Assert.Contains(result.RemoteCacheWarnings, w => w.StartsWith("WARNING: Reading from Remote Cache:", StringComparison.Ordinal)
            && w.Contains("Connection refused", StringComparison.Ordinal));
        Assert.Contains(result.RemoteCacheWarnings, w => w.StartsWith("WARNING: Writing to Remote Cache:", StringComparison.Ordinal));

        // Without uploads, only the lookups fail.
        await _bazel.CleanAsync();
        var readOnly = (await _bazel.BuildAsync([$"--remote_cache={url}", "--noremote_upload_local_results"])).EnsureSuccess();
        Assert.Equal(BazelEnvironment.WorkspaceActions, readOnly.Executed);
        Assert.Contains(readOnly.RemoteCacheWarnings, w => w.StartsWith("WARNING: Reading from Remote Cache:", StringComparison.Ordinal));
        Assert.DoesNotContain(readOnly.RemoteCacheWarnings, w => w.StartsWith("WARNING: Writing to Remote Cache:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("INFO: 5 processes: 4 remote cache hit, 1 internal.", 5, 4, 1, 0)]
    [InlineData("INFO: 5 processes: 1 internal, 4 linux-sandbox.", 5, 0, 1, 4)]
    [InlineData("INFO: 5 processes: 2 remote cache hit, 1 internal, 1 processwrapper-sandbox, 1 local.", 5, 2, 1, 2)]
    [InlineData("INFO: 1 process: 1 internal.", 1, 0, 1, 0)]
    [InlineData("INFO: 0 processes.", 0, 0, 0, 0)]
    public void Summary_line_is_parsed_into_counts(string line, int total, int hits, int @internal, int executed)
    {
        var output = $"INFO: Elapsed time: 1.2s, Critical Path: 0.5s\n{line}\nINFO: Build completed successfully, {total} total actions\n";
        var result = BazelBuildResult.From(new ProcessResult(new ProcessCommand("bazel", ["build"], TimeSpan.Zero), 0, "", output, TimeSpan.Zero, false));

        Assert.Equal(total, result.TotalProcesses);
        Assert.Equal(hits, result.RemoteCacheHits);
        Assert.Equal(@internal, result.Internal);
        Assert.Equal(executed, result.Executed);
    }

    [Fact]
    public void Disk_cache_hit_kind_of_newer_bazels_counts_as_a_cache_hit_but_not_a_remote_one()
    {
        var (total, counts) = BazelBuildResult.ParseSummary("INFO: 3 processes: 2 disk cache hit, 1 internal.\n");
        var result = new BazelBuildResult(new ProcessResult(new ProcessCommand("bazel", [], TimeSpan.Zero), 0, "", "", TimeSpan.Zero, false), total, counts);

        Assert.Equal(2, result.CacheHits);
        Assert.Equal(0, result.RemoteCacheHits);
        Assert.Equal(0, result.Executed);
    }

    [Fact]
    public void Missing_summary_line_leaves_counts_empty()
    {
        var (total, counts) = BazelBuildResult.ParseSummary("ERROR: Failed to query remote execution capabilities: Connection refused\n");

        Assert.Null(total);
        Assert.Empty(counts);
    }

}
