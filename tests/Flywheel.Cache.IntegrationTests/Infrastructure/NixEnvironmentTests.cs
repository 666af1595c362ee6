using System.Security.Cryptography;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>The harness itself, against real Nix and a file:// binary cache (no server needed).</summary>
public sealed class NixEnvironmentTests : IAsyncLifetime
{
    private readonly NixEnvironment _nix = NixEnvironment.Require();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _nix.DisposeAsync();

    [Fact]
    public async Task BuildClosure_makes_new_paths_whose_references_nix_detected()
    {
        var first = await _nix.BuildClosureAsync(nameof(BuildClosure_makes_new_paths_whose_references_nix_detected));
        var second = await _nix.BuildClosureAsync(nameof(BuildClosure_makes_new_paths_whose_references_nix_detected));

        Assert.Equal(4, first.Outputs.Count);
        Assert.Equal(first.Outputs.Order(), first.Closure.Order());
        Assert.Empty(first.Outputs.Intersect(second.Outputs));
        Assert.All(first.Outputs, p => Assert.Contains(first.Nonce, p));
        Assert.Equal([first.Leaf], await References(first.Middle));
        Assert.Equal(new[] { first.Middle, first.Large }.Order(), (await References(first.Top)).Order());
        Assert.Empty(await References(first.Leaf));
        Assert.InRange(new FileInfo(first.Large).Length, 2 * 1024 * 1024, 3 * 1024 * 1024);
        Assert.Equal(4, first.Derivations.Count);
        Assert.All(first.Derivations, d => Assert.EndsWith(".drv", d));
    }

    [Fact]
    public async Task Signed_closure_round_trips_through_a_file_cache_with_nix_copy()
    {
        var closure = await _nix.BuildClosureAsync(nameof(Signed_closure_round_trips_through_a_file_cache_with_nix_copy));
        var key = await _nix.GenerateKeyAsync("harness-test-1");
        var url = await SignAndUpload(closure, key);
        var before = Fingerprint(closure);

        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(url, [closure.Top], key.PublicKey);

        foreach (var path in closure.Closure)
        {
            Assert.True(await _nix.IsValidAsync(path), path);
        }
        Assert.Equal(before, Fingerprint(closure));
    }

    [Fact]
    public async Task Signed_closure_is_substituted_by_nix_store_realise_with_require_sigs()
    {
        var closure = await _nix.BuildClosureAsync(nameof(Signed_closure_is_substituted_by_nix_store_realise_with_require_sigs));
        var key = await _nix.GenerateKeyAsync("harness-test-1");
        var url = await SignAndUpload(closure, key);
        var before = Fingerprint(closure);

        await _nix.DeletePathsAsync(closure.Closure);
        var realised = await _nix.RealiseAsync([closure.Top], url, key.PublicKey);

        Assert.Contains(closure.Top, realised.OutputLines);
        Assert.Contains("copying path", realised.StandardError);
        Assert.Equal(before, Fingerprint(closure));
    }

    [Fact]
    public async Task Wrong_trusted_key_makes_substitution_fail()
    {
        var closure = await _nix.BuildClosureAsync(nameof(Wrong_trusted_key_makes_substitution_fail));
        var key = await _nix.GenerateKeyAsync("harness-test-1");
        var other = await _nix.GenerateKeyAsync("harness-test-1"); // same name, different key: only the bytes count
        var url = await SignAndUpload(closure, key);
        await _nix.DeletePathsAsync(closure.Closure);

        var realised = (await _nix.RealiseAsync([closure.Top], url, other.PublicKey, check: false)).EnsureFailure();
        Assert.Contains("is not signed by any of the keys in 'trusted-public-keys'", realised.StandardError);
        (await _nix.CopyFromAsync(url, [closure.Top], other.PublicKey, check: false)).EnsureFailure();

        foreach (var path in closure.Closure)
        {
            Assert.False(await _nix.IsValidAsync(path), path);
        }
    }

    [Fact]
    public async Task VerifySignatures_checks_the_cache_against_the_given_key()
    {
        var closure = await _nix.BuildClosureAsync(nameof(VerifySignatures_checks_the_cache_against_the_given_key));
        var key = await _nix.GenerateKeyAsync("harness-test-1");
        var other = await _nix.GenerateKeyAsync("harness-test-2");
        var url = await SignAndUpload(closure, key);

        await _nix.VerifySignaturesAsync(closure.Closure, key.PublicKey, url);
        (await _nix.VerifySignaturesAsync(closure.Closure, other.PublicKey, url, check: false)).EnsureFailure();
    }

    [Fact]
    public async Task DeletePaths_refuses_paths_it_did_not_create()
    {
        var foreign = NixEnvironment.StoreDir + "/0000000000000000000000000000000a-someone-elses";
        await Assert.ThrowsAsync<InvalidOperationException>(() => _nix.DeletePathsAsync([foreign]));
    }

    [Fact]
    public async Task Configuration_is_isolated_from_the_host()
    {
        var config = (await _nix.RunAsync("nix", ["show-config"])).EnsureSuccess().StandardOutput;

        Assert.Contains("sandbox = false\n", config);
        Assert.Contains("substituters = \n", config);
        Assert.Contains("require-sigs = true\n", config);
        Assert.Contains($"netrc-file = {_nix.DefaultNetrcFile}\n", config);
        Assert.Contains("narinfo-cache-negative-ttl = 0\n", config);
    }

    private async Task<string> SignAndUpload(NixClosure closure, NixSigningKey key)
    {
        await _nix.SignAsync([closure.Top], key);
        var url = _nix.NewFileCacheUrl("roundtrip", "zstd");
        await _nix.CopyToAsync(url, [closure.Top]);

        var dir = new Uri(url).AbsolutePath;
        foreach (var path in closure.Closure)
        {
            var narinfo = await File.ReadAllTextAsync(Path.Combine(dir, NixClosure.HashPart(path) + ".narinfo"));
            Assert.Contains($"StorePath: {path}\n", narinfo);
            Assert.Contains("Compression: zstd\n", narinfo);
            Assert.Contains($"Sig: {key.Name}:", narinfo);
        }
        Assert.Equal("StoreDir: /nix/store\n", await File.ReadAllTextAsync(Path.Combine(dir, "nix-cache-info")));
        return url;
    }

    private async Task<IReadOnlyList<string>> References(string path) =>
        (await _nix.RunAsync("nix-store", ["--query", "--references", path])).EnsureSuccess().OutputLines;

    private static string Fingerprint(NixClosure closure) =>
        string.Join('\n',
            File.ReadAllText(closure.Leaf),
            File.ReadAllText(Path.Combine(closure.Middle, "leaf-path")),
            new FileInfo(Path.Combine(closure.Middle, "leaf-link")).LinkTarget,
            File.ReadAllText(Path.Combine(closure.Top, "bin", "top")),
            !OperatingSystem.IsWindows() && File.GetUnixFileMode(Path.Combine(closure.Top, "bin", "top")).HasFlag(UnixFileMode.UserExecute),
            Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(closure.Large))));
}
