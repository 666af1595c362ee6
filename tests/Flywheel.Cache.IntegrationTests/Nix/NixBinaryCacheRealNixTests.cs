using System.Net;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Nix;

/// <summary>
/// Real Nix 2.8 against the real <c>flywheel</c> executable: push with a netrc token, substitute back with
/// signatures required, refuse what must be refused. Run on every backend (subclasses below).
/// </summary>
public abstract class NixBinaryCacheRealNixTests : IAsyncLifetime
{
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private FlywheelProcess _daemon = null!;

    protected NixEnvironment Nix => _nix;

    protected FlywheelProcess Daemon => _daemon;

    /// <summary>An admin token of the daemon's backend.</summary>
    protected virtual string AdminToken => _daemon.AdminToken;

    protected abstract Task<FlywheelProcess> StartDaemonAsync();

    public async Task InitializeAsync() => _daemon = await StartDaemonAsync();

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _nix.DisposeAsync();
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("xz")]
    [InlineData("none")]
    public async Task Pushed_closure_is_substituted_back_with_signatures_verified(string compression)
    {
        var closure = await _nix.BuildClosureAsync("push-" + compression);
        var token = await CreateTokenAsync("main", "pull,push");
        var netrc = _nix.WriteNetrc("127.0.0.1", token);
        var cache = new Uri(_daemon.BaseAddress, "main").ToString();

        await _nix.CopyToAsync($"{cache}?compression={compression}", [closure.Top], netrc);
        var contents = closure.Closure.ToDictionary(p => p, Snapshot);

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(cache, [closure.Top], _daemon.PublicKey);
        foreach (var path in closure.Closure)
        {
            Assert.Equal(contents[path], Snapshot(path));
        }

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.RealiseAsync([closure.Top], cache, _daemon.PublicKey);
        foreach (var path in closure.Closure)
        {
            Assert.Equal(contents[path], Snapshot(path));
        }

        await _nix.VerifySignaturesAsync(closure.Closure, _daemon.PublicKey, cache);
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(_daemon.BaseAddress, "metrics"));
        Assert.Contains("route=\"/{cache}/nar/{file}\",status=\"204\"", metrics);
        Assert.Contains("flywheel_narinfo_lookups_total{cache=\"main\",result=\"hit\"}", metrics);
    }

    [Fact]
    public async Task Push_without_a_token_or_with_a_pull_token_fails_and_stores_nothing()
    {
        var closure = await _nix.BuildClosureAsync("unauthorised");
        var cache = new Uri(_daemon.BaseAddress, "main") + "?compression=zstd";

        var anonymous = await _nix.CopyToAsync(cache, [closure.Leaf], netrcFile: null, check: false);
        anonymous.EnsureFailure();
        var pullOnly = _nix.WriteNetrc("127.0.0.1", await CreateTokenAsync("main", "pull"));
        (await _nix.CopyToAsync(cache, [closure.Leaf], pullOnly, check: false)).EnsureFailure();

        using var http = new HttpClient();
        using var narinfo = await http.GetAsync(new Uri(_daemon.BaseAddress, $"main/{NixClosure.HashPart(closure.Leaf)}.narinfo"));
        Assert.Equal(HttpStatusCode.NotFound, narinfo.StatusCode);
    }

    [Fact]
    public async Task Substituting_with_a_key_the_cache_did_not_sign_with_fails()
    {
        var closure = await _nix.BuildClosureAsync("wrong-key");
        var netrc = _nix.WriteNetrc("127.0.0.1", await CreateTokenAsync("main", "push"));
        var cache = new Uri(_daemon.BaseAddress, "main").ToString();
        await _nix.CopyToAsync(cache + "?compression=zstd", [closure.Leaf], netrc);
        await _nix.DeletePathsAsync(closure.Closure); // the leaf has referrers in the closure; delete them all

        var otherKey = await _nix.GenerateKeyAsync("someone-else-1");
        (await _nix.RealiseAsync([closure.Leaf], cache, otherKey.PublicKey, check: false)).EnsureFailure();
        Assert.False(await _nix.IsValidAsync(closure.Leaf));
    }

    [Fact]
    public async Task Tampered_nar_made_by_real_nix_is_refused_and_the_genuine_one_then_accepted()
    {
        var closure = await _nix.BuildClosureAsync("tampered");
        var fileCache = _nix.NewFileCacheUrl("tamper-source", "xz");
        await _nix.CopyToAsync(fileCache, [closure.Leaf]);
        var cacheDir = new Uri(fileCache.Split('?')[0]).LocalPath;
        var narInfoText = await File.ReadAllTextAsync(Path.Combine(cacheDir, NixClosure.HashPart(closure.Leaf) + ".narinfo"));
        var url = narInfoText.Split('\n').First(l => l.StartsWith("URL: ", StringComparison.Ordinal))[5..];
        var genuine = await File.ReadAllBytesAsync(Path.Combine(cacheDir, url));
        var tampered = (byte[])genuine.Clone();
        tampered[tampered.Length / 2] ^= 0xff;

        using var http = new HttpClient { BaseAddress = _daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await CreateTokenAsync("main", "push"));
        using (var refused = await http.PutAsync($"main/{url}", new ByteArrayContent(tampered)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        var hashPart = NixClosure.HashPart(closure.Leaf);
        using (var orphan = await http.PutAsync($"main/{hashPart}.narinfo", new StringContent(narInfoText)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, orphan.StatusCode);
            Assert.Contains("upload the NAR first", await orphan.Content.ReadAsStringAsync());
        }

        using (var accepted = await http.PutAsync($"main/{url}", new ByteArrayContent(genuine)))
        {
            Assert.Equal(HttpStatusCode.NoContent, accepted.StatusCode);
        }

        using (var info = await http.PutAsync($"main/{hashPart}.narinfo", new StringContent(narInfoText)))
        {
            Assert.Equal(HttpStatusCode.NoContent, info.StatusCode);
        }

        await _nix.DeletePathsAsync(closure.Closure); // the leaf has referrers in the closure; delete them all
        await _nix.RealiseAsync([closure.Leaf], new Uri(_daemon.BaseAddress, "main").ToString(), _daemon.PublicKey);
    }

    protected async Task<string> CreateTokenAsync(string cache, string scopes)
    {
        var result = (await FlywheelProcess.CliAsync(
            "token", "create", "--cache", cache, "--scope", scopes, "--server", _daemon.BaseAddress.ToString(), "--token", AdminToken)).EnsureSuccess();
        return result.StandardOutput.Trim();
    }

    private static string Snapshot(string path)
    {
        if (File.Exists(path) || (new FileInfo(path).Attributes.HasFlag(FileAttributes.ReparsePoint)))
        {
            return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
        }

        return string.Join(';', Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories).Order()
            .Select(p => p + "=" + (File.Exists(p) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p))) : "dir")));
    }
}

/// <summary>The suite on the embedded default (local disk + SQLite), plus the CLI working on the data folder.</summary>
public sealed class NixBinaryCacheOnEmbeddedDefaultTests : NixBinaryCacheRealNixTests
{
    protected override Task<FlywheelProcess> StartDaemonAsync() => FlywheelProcess.StartAsync();

    [Fact]
    public async Task Cli_manages_caches_and_tokens_on_a_runningDaemon_and_on_the_data_folder()
    {
        var server = Daemon.BaseAddress.ToString();
        (await FlywheelProcess.CliAsync("cache", "create", "team-a", "--server", server, "--token", Daemon.AdminToken, "--priority", "30"))
            .EnsureSuccess();
        var key = (await FlywheelProcess.CliAsync("cache", "key", "team-a", "--server", server, "--token", Daemon.AdminToken)).EnsureSuccess();
        Assert.StartsWith("team-a.flywheel-1:", key.StandardOutput.Trim());

        var list = (await FlywheelProcess.CliAsync("cache", "list", "--data", Daemon.DataDirectory)).EnsureSuccess();
        Assert.Contains("team-a", list.StandardOutput);
        Assert.Contains("main", list.StandardOutput);

        var duplicate = await FlywheelProcess.CliAsync("cache", "create", "team-a", "--data", Daemon.DataDirectory);
        Assert.NotEqual(0, duplicate.ExitCode);
        Assert.Contains("team-a", duplicate.StandardError);

        var created = (await FlywheelProcess.CliAsync("token", "create", "--cache", "team-a", "--scope", "pull,push", "--ttl", "1d",
            "--server", server, "--token", Daemon.AdminToken)).EnsureSuccess();
        var secret = created.StandardOutput.Trim();
        var id = created.StandardError.Split(' ', ':')[1];
        Assert.StartsWith("tok_", id);

        var closure = await Nix.BuildClosureAsync("cli-token");
        var netrc = Nix.WriteNetrc("127.0.0.1", secret);
        await Nix.CopyToAsync(new Uri(Daemon.BaseAddress, "team-a") + "?compression=zstd", [closure.Leaf], netrc);

        (await FlywheelProcess.CliAsync("token", "revoke", id, "--data", Daemon.DataDirectory)).EnsureSuccess();
        await Task.Delay(TimeSpan.FromSeconds(11)); // a revocation made outside the daemon is seen within its token cache TTL (10 s)
        var other = await Nix.BuildClosureAsync("cli-revoked");
        (await Nix.CopyToAsync(new Uri(Daemon.BaseAddress, "team-a") + "?compression=zstd", [other.Leaf], netrc, check: false)).EnsureFailure();
    }
}

/// <summary>The suite on the production backends: S3 (s3rver) and PostgreSQL.</summary>
public sealed class NixBinaryCacheOnS3AndPostgresTests(ProductionBackend backend) : NixBinaryCacheRealNixTests, IClassFixture<ProductionBackend>
{
    protected override string AdminToken => backend.AdminToken;

    protected override Task<FlywheelProcess> StartDaemonAsync() => backend.StartGatewayAsync();
}
