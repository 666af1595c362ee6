using System.Net;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Upstream;

/// <summary>
/// Read-through with real components: real Nix 2.8 substitutes through the real <c>flywheel</c> executable from an
/// upstream that is either a <c>nix copy --to file://</c> cache served by Debian's nginx, or a second gateway.
/// Nix trusts only the gateway's key, so every path it accepts was verified and re-signed by the gateway.
/// </summary>
public sealed class UpstreamReadThroughRealNixTests : IAsyncLifetime
{
    private readonly NixEnvironment _nix = NixEnvironment.Require();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _nix.DisposeAsync();

    [Fact]
    public async Task Nix_substitutes_a_closure_only_an_nginx_upstream_has_and_again_once_that_upstream_is_gone()
    {
        var closure = await _nix.BuildClosureAsync("upstream-nginx");
        var (folder, key) = await UpstreamCacheAsync(closure, "xz");
        await using var nginx = await NginxServer.StartAsync(folder);
        await using var gateway = await FlywheelProcess.StartAsync();
        await AddUpstreamAsync(gateway, "main", nginx.BaseAddress, key.PublicKey);
        var cache = new Uri(gateway.BaseAddress, "main").ToString();

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.RealiseAsync([closure.Top], cache, gateway.PublicKey);

        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
            Assert.Equal(1, nginx.Count($"/{NixClosure.HashPart(path)}.narinfo"));
        }

        Assert.Equal(closure.Closure.Count, nginx.RequestedPaths().Count(p => p.StartsWith("/nar/", StringComparison.Ordinal)));

        await nginx.StopAsync();
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.RealiseAsync([closure.Top], cache, gateway.PublicKey);
        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
        }

        var list = (await FlywheelProcess.CliAsync("cache", "upstream", "list", "main", "--server", gateway.BaseAddress.ToString(), "--token", gateway.AdminToken)).EnsureSuccess();
        Assert.Contains(nginx.BaseAddress.ToString().TrimEnd('/'), list.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>nix copy --from</c> asks HEAD narinfo first (Nix 2.8's isValidPath): the gateway answers it from its upstreams
    /// as it answers GET, so a closure only the upstream has is copied, verified against the gateway's key.
    /// </summary>
    [Fact]
    public async Task Nix_copy_from_the_gateway_copies_a_closure_only_the_upstream_has()
    {
        var closure = await _nix.BuildClosureAsync("upstream-copy-from");
        var (folder, key) = await UpstreamCacheAsync(closure, "xz");
        await using var nginx = await NginxServer.StartAsync(folder);
        await using var gateway = await FlywheelProcess.StartAsync();
        await AddUpstreamAsync(gateway, "main", nginx.BaseAddress, key.PublicKey);
        var cache = new Uri(gateway.BaseAddress, "main").ToString();

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(cache, [closure.Top], gateway.PublicKey);

        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
        }

        Assert.Equal(closure.Closure.Count, nginx.RequestedPaths().Count(p => p.StartsWith("/nar/", StringComparison.Ordinal)));
    }

    /// <summary>
    /// Nix 2.8's <c>nix copy --to</c> asks the destination with HEAD and with GET narinfo (queryPathInfo, the same request a
    /// substituter makes), so it sees the union of the cache and its upstreams, like every client; but it never makes the
    /// gateway pull a NAR (HEAD, like GET, may fetch a narinfo, never a NAR). A path it uploads is stored.
    /// </summary>
    [Fact]
    public async Task Nix_copy_to_the_gateway_never_pulls_a_nar_from_the_upstream()
    {
        var closure = await _nix.BuildClosureAsync("upstream-copy-to");
        var (folder, key) = await UpstreamCacheAsync(closure, "zstd");
        File.Delete(Path.Combine(folder, NixClosure.HashPart(closure.Top) + ".narinfo")); // the upstream lacks the top
        await using var nginx = await NginxServer.StartAsync(folder);
        await using var gateway = await FlywheelProcess.StartAsync();
        await AddUpstreamAsync(gateway, "main", nginx.BaseAddress, key.PublicKey);
        var netrc = _nix.WriteNetrc("127.0.0.1", gateway.AdminToken);
        var cache = new Uri(gateway.BaseAddress, "main").ToString();

        await _nix.CopyToAsync(cache + "?compression=zstd", [closure.Top], netrc);

        Assert.DoesNotContain(nginx.RequestedPaths(), p => p.StartsWith("/nar/", StringComparison.Ordinal));
        using var http = new HttpClient();
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(gateway.BaseAddress, $"main/{NixClosure.HashPart(closure.Top)}.narinfo")));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode); // uploaded
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.RealiseAsync([closure.Top], cache, gateway.PublicKey);
        Assert.True(await _nix.IsValidAsync(closure.Top));
    }

    [Fact]
    public async Task A_closure_signed_by_a_key_the_gateway_does_not_trust_is_not_served_and_not_stored()
    {
        var closure = await _nix.BuildClosureAsync("upstream-untrusted");
        var (folder, _) = await UpstreamCacheAsync(closure, "xz");
        var trusted = await _nix.GenerateKeyAsync("not-the-signer-1");
        await using var nginx = await NginxServer.StartAsync(folder);
        await using var gateway = await FlywheelProcess.StartAsync();
        await AddUpstreamAsync(gateway, "main", nginx.BaseAddress, trusted.PublicKey);
        var cache = new Uri(gateway.BaseAddress, "main").ToString();

        await _nix.DeletePathsAsync(closure.Closure);
        (await _nix.RealiseAsync([closure.Top], cache, gateway.PublicKey, check: false)).EnsureFailure();

        Assert.False(await _nix.IsValidAsync(closure.Top));
        Assert.Equal(0, nginx.RequestedPaths().Count(p => p.StartsWith("/nar/", StringComparison.Ordinal)));
        using var http = new HttpClient();
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(gateway.BaseAddress, $"main/{NixClosure.HashPart(closure.Top)}.narinfo")));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
    }

    [Fact]
    public async Task Fifty_concurrent_requests_for_one_uncached_path_make_one_request_to_nginx()
    {
        var closure = await _nix.BuildClosureAsync("upstream-fifty");
        var (folder, key) = await UpstreamCacheAsync(closure, "xz");
        await using var nginx = await NginxServer.StartAsync(folder);
        await using var gateway = await FlywheelProcess.StartAsync();
        await AddUpstreamAsync(gateway, "main", nginx.BaseAddress, key.PublicKey);
        var hash = NixClosure.HashPart(closure.Large);
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };

        var narInfos = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => http.GetStringAsync($"main/{hash}.narinfo")));
        var url = narInfos[0].Split('\n').Single(l => l.StartsWith("URL: ", StringComparison.Ordinal))[5..];
        var nars = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => http.GetByteArrayAsync($"main/{url}")));

        Assert.Single(narInfos.Distinct());
        var expected = await File.ReadAllBytesAsync(Path.Combine(folder, url));
        Assert.All(nars, n => Assert.Equal(expected, n));
        Assert.Equal(1, nginx.Count($"/{hash}.narinfo"));
        Assert.Equal(1, nginx.RequestedPaths().Count(p => p.StartsWith("/nar/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_second_gateway_with_a_private_cache_is_an_upstream_reached_with_a_bearer_token()
    {
        var closure = await _nix.BuildClosureAsync("upstream-gateway");
        await using var upstream = await FlywheelProcess.StartAsync();
        var upstreamAdmin = new[] { "--server", upstream.BaseAddress.ToString(), "--token", upstream.AdminToken };
        var created = (await FlywheelProcess.CliAsync(["cache", "create", "team", .. upstreamAdmin])).EnsureSuccess();
        var teamKey = created.StandardOutput.Split('\n').Single(l => l.StartsWith("trusted-public-keys:", StringComparison.Ordinal))["trusted-public-keys:".Length..].Trim();
        var pullToken = (await FlywheelProcess.CliAsync(["token", "create", "--cache", "team", "--scope", "pull", .. upstreamAdmin])).EnsureSuccess().StandardOutput.Trim();
        await _nix.CopyToAsync(new Uri(upstream.BaseAddress, "team") + "?compression=zstd", [closure.Top], _nix.WriteNetrc("127.0.0.1", upstream.AdminToken));

        await using var gateway = await FlywheelProcess.StartAsync();
        (await FlywheelProcess.CliAsync("cache", "upstream", "add", "main", new Uri(upstream.BaseAddress, "team").ToString(), "--trusted-key", teamKey,
            "--upstream-token", pullToken, "--timeout", "5s", "--server", gateway.BaseAddress.ToString(), "--token", gateway.AdminToken)).EnsureSuccess();
        var cache = new Uri(gateway.BaseAddress, "main").ToString();

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.RealiseAsync([closure.Top], cache, gateway.PublicKey);
        Assert.True(await _nix.IsValidAsync(closure.Top));

        await upstream.DisposeAsync();
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.RealiseAsync([closure.Top], cache, gateway.PublicKey);
        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
        }
    }

    /// <summary>A file:// binary cache of the closure made by real Nix, signed by a new key: its folder and the key.</summary>
    private async Task<(string Folder, NixSigningKey Key)> UpstreamCacheAsync(NixClosure closure, string compression)
    {
        var key = await _nix.GenerateKeyAsync("upstream-" + TestTools.RandomNonce(6) + "-1");
        var url = _nix.NewFileCacheUrl("upstream", compression);
        await _nix.CopyToAsync($"{url}&secret-key={key.SecretKeyFile}", [closure.Top]);
        return (new Uri(url.Split('?')[0]).LocalPath, key);
    }

    private static async Task AddUpstreamAsync(FlywheelProcess gateway, string cache, Uri upstream, string trustedKey) =>
        (await FlywheelProcess.CliAsync("cache", "upstream", "add", cache, upstream.ToString(), "--trusted-key", trustedKey, "--timeout", "5s",
            "--server", gateway.BaseAddress.ToString(), "--token", gateway.AdminToken)).EnsureSuccess();
}
