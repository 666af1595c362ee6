using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Bazel;

/// <summary>
/// Real Bazel 4.2.3 against the real <c>flywheel</c> executable: a workspace built with the remote cache, expunged
/// and built again gets every action from the cache, over gRPC (REAPI) and over HTTP. Run on every backend.
/// </summary>
public abstract class BazelRemoteCacheRealBazelTests : IAsyncLifetime
{
    private readonly BazelEnvironment _bazel = BazelEnvironment.Require();
    private FlywheelProcess _daemon = null!;

    /// <summary>An admin token of the daemon's backend.</summary>
    protected virtual string AdminToken => _daemon.AdminToken;

    protected abstract Task<FlywheelProcess> StartDaemonAsync();

    /// <summary>Runs <c>flywheel gc</c> with <paramref name="args"/> on the daemon's backends.</summary>
    protected abstract Task<ProcessResult> GcAsync(FlywheelProcess daemon, params string[] args);

    public async Task InitializeAsync() => _daemon = await StartDaemonAsync();

    public async Task DisposeAsync()
    {
        await _bazel.DisposeAsync();
        await _daemon.DisposeAsync();
    }

    [Fact]
    public async Task Grpc_remote_cache_serves_every_action_after_clean_expunge()
    {
        var token = await CreateTokenAsync("main", "pull,push");
        await BuildTwiceAndExpectFullHitsAsync("grpc", ["--remote_cache=" + _daemon.GrpcUrl, "--remote_header=Authorization=Bearer " + token]);
    }

    [Fact]
    public async Task Grpc_remote_cache_keeps_instances_apart()
    {
        (await FlywheelProcess.CliAsync("cache", "create", "team-b", "--server", _daemon.BaseAddress.ToString(), "--token", AdminToken)).EnsureSuccess();
        var token = await CreateTokenAsync("team-b", "pull,push");
        string[] flags = ["--remote_cache=" + _daemon.GrpcUrl, "--remote_instance_name=team-b", "--remote_header=Authorization=Bearer " + token];
        await BuildTwiceAndExpectFullHitsAsync("instance", flags);

        // The same actions in the default instance were never cached there: a token for main sees misses.
        await _bazel.CleanExpungeAsync();
        var mainToken = await CreateTokenAsync("main", "pull,push");
        var other = (await _bazel.BuildAsync(["--remote_cache=" + _daemon.GrpcUrl, "--remote_header=Authorization=Bearer " + mainToken])).EnsureSuccess();
        Assert.Equal(0, other.RemoteCacheHits);
    }

    [Fact]
    public async Task An_instance_over_its_quota_is_evicted_by_gc_and_bazel_rebuilds_what_went()
    {
        var admin = new[] { "--server", _daemon.BaseAddress.ToString(), "--token", AdminToken };
        (await FlywheelProcess.CliAsync(["cache", "create", "quota-q", "--quota", "1MiB", .. admin])).EnsureSuccess();
        var token = await CreateTokenAsync("quota-q", "pull,push");
        string[] flags = ["--remote_cache=" + _daemon.GrpcUrl, "--remote_instance_name=quota-q", "--remote_header=Authorization=Bearer " + token];
        _bazel.WriteWorkspace("quota");
        (await _bazel.BuildAsync(flags)).EnsureSuccess();
        var before = await _bazel.OutputDigestsAsync();
        await Task.Delay(TimeSpan.FromSeconds(2)); // older than the grace below

        var gc = (await GcAsync(_daemon, "--grace", "1s")).EnsureSuccess();
        Assert.Matches(@"[1-9]\d* blobs evicted over quota", gc.StandardOutput);
        var shown = (await FlywheelProcess.CliAsync(["cache", "show", "quota-q", .. admin])).EnsureSuccess().StandardOutput;
        var used = long.Parse(System.Text.RegularExpressions.Regex.Match(shown, @"CAS blobs: \d+ \((\d+) bytes").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(used, 0, 1L << 20);

        // What was evicted is a miss, never a failure; Bazel runs those actions again and uploads them afresh.
        await _bazel.CleanExpungeAsync();
        var after = (await _bazel.BuildAsync(flags)).EnsureSuccess();
        Assert.Empty(after.RemoteCacheWarnings);
        Assert.True(after.RemoteCacheHits < BazelEnvironment.WorkspaceActions, $"{after.RemoteCacheHits} hits after eviction");
        Assert.Equal(before, await _bazel.OutputDigestsAsync());

        await _bazel.CleanExpungeAsync();
        var warm = (await _bazel.BuildAsync(flags)).EnsureSuccess();
        Assert.Equal(BazelEnvironment.WorkspaceActions, warm.RemoteCacheHits);
    }

    [Fact]
    public async Task Http_remote_cache_serves_every_action_after_clean_expunge()
    {
        var token = await CreateTokenAsync("main", "pull,push");
        await BuildTwiceAndExpectFullHitsAsync("http", ["--remote_cache=" + _daemon.BaseAddress.ToString().TrimEnd('/'), "--remote_header=Authorization=Bearer " + token]);
    }

    [Fact]
    public async Task Grpc_remote_cache_with_a_wrong_token_fails_the_build_clearly()
    {
        _bazel.WriteWorkspace("wrong-token");
        var result = await _bazel.BuildAsync(["--remote_cache=" + _daemon.GrpcUrl, "--remote_header=Authorization=Bearer fw1_wrong"]);
        result.EnsureFailure();
        Assert.Contains("UNAUTHENTICATED", result.Output);
        Assert.Contains("unknown, revoked or expired", result.Output);
    }

    [Fact]
    public async Task Http_remote_cache_with_a_wrong_token_is_reported_and_caches_nothing()
    {
        _bazel.WriteWorkspace("wrong-http-token");
        var result = (await _bazel.BuildAsync(["--remote_cache=" + _daemon.BaseAddress.ToString().TrimEnd('/'), "--remote_header=Authorization=Bearer fw1_wrong"]))
            .EnsureSuccess(); // Bazel's HTTP cache only warns on cache errors
        Assert.Contains(result.RemoteCacheWarnings, w => w.Contains("401", StringComparison.Ordinal));
        Assert.Equal(0, result.RemoteCacheHits);
    }

    private async Task BuildTwiceAndExpectFullHitsAsync(string name, string[] flags)
    {
        _bazel.WriteWorkspace(name);
        var cold = (await _bazel.BuildAsync(flags)).EnsureSuccess();
        Assert.Empty(cold.RemoteCacheWarnings);
        Assert.Equal(0, cold.RemoteCacheHits);
        var before = await _bazel.OutputDigestsAsync();

        await _bazel.CleanExpungeAsync();
        var warm = (await _bazel.BuildAsync(flags)).EnsureSuccess();
        Assert.Empty(warm.RemoteCacheWarnings);
        Assert.Equal(BazelEnvironment.WorkspaceActions, warm.RemoteCacheHits);
        Assert.Equal(0, warm.Executed);
        Assert.Equal(before, await _bazel.OutputDigestsAsync());
    }

    private async Task<string> CreateTokenAsync(string cache, string scopes) =>
        (await FlywheelProcess.CliAsync("token", "create", "--cache", cache, "--scope", scopes, "--server", _daemon.BaseAddress.ToString(), "--token", AdminToken))
            .EnsureSuccess().StandardOutput.Trim();
}

/// <summary>The suite on the embedded default (local disk + SQLite).</summary>
public sealed class BazelRemoteCacheOnEmbeddedDefaultTests : BazelRemoteCacheRealBazelTests
{
    protected override Task<FlywheelProcess> StartDaemonAsync() => FlywheelProcess.StartAsync();

    protected override Task<ProcessResult> GcAsync(FlywheelProcess daemon, params string[] args) =>
        FlywheelProcess.CliAsync(["gc", "--data", daemon.DataDirectory, .. args]);
}

/// <summary>The suite on the production backends: S3 (s3rver) and PostgreSQL.</summary>
public sealed class BazelRemoteCacheOnS3AndPostgresTests(ProductionBackend backend) : BazelRemoteCacheRealBazelTests, IClassFixture<ProductionBackend>
{
    protected override string AdminToken => backend.AdminToken;

    protected override Task<FlywheelProcess> StartDaemonAsync() => backend.StartGatewayAsync();

    protected override Task<ProcessResult> GcAsync(FlywheelProcess daemon, params string[] args) => backend.GcAsync(args);
}
