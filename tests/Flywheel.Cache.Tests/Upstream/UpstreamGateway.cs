using System.Net.Http.Json;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Server;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Tests.Nix;
using Flywheel.Cache.Tests.Server;

namespace Flywheel.Cache.Tests.Upstream;

/// <summary>
/// A real daemon with short upstream settings (negative TTL 1 s, circuits break after 4 failures for 2 s) and helpers to
/// give a fresh cache an upstream. One per test class; each test makes its own cache and upstream server.
/// </summary>
public sealed class UpstreamGateway : IAsyncLifetime
{
    private int _caches;

    public DaemonFixture Daemon { get; } = new();

    public async Task InitializeAsync()
    {
        Daemon.Settings[ConfigKeys.UpstreamNegativeTtl] = "00:00:01";
        Daemon.Settings[ConfigKeys.UpstreamBreakDuration] = "00:00:02";
        await Daemon.InitializeAsync();
    }

    public Task DisposeAsync() => Daemon.DisposeAsync();

    public HttpClient Admin() => Daemon.CreateClient(Daemon.AdminToken);

    /// <summary>A new public cache reading through to <paramref name="upstreams"/> (URL, priority), trusting the fixtures' key.</summary>
    public async Task<string> CreateCacheAsync(params (Uri Url, int Priority)[] upstreams) =>
        await CreateCacheAsync(upstreams.Select(u => new AddUpstreamRequest(u.Url.ToString(), [NixFixtures.PublicKey], u.Priority, Timeout: "1s")).ToArray());

    public async Task<string> CreateCacheAsync(params AddUpstreamRequest[] upstreams)
    {
        var name = $"rt{Interlocked.Increment(ref _caches)}";
        using var admin = Admin();
        (await admin.PostAsJsonAsync("/_api/v1/caches", new CreateCacheRequest(name, Public: true))).EnsureSuccessStatusCode();
        foreach (var upstream in upstreams)
        {
            using var added = await admin.PostAsJsonAsync($"/_api/v1/caches/{name}/upstreams", upstream);
            Assert.True(added.IsSuccessStatusCode, await added.Content.ReadAsStringAsync());
        }

        return name;
    }

    /// <summary>The fixture cache of that compression: (store path hash, NAR URL path, NAR bytes) of its main path.</summary>
    public static (string Hash, string NarPath, byte[] Nar) MainPath(NarCompression compression)
    {
        var (path, text) = NixFixtures.NarInfos(compression).Single(n => n.Text.Contains("-flywheel-fixture-main-1.0\n", StringComparison.Ordinal));
        var url = text.Split('\n').Single(l => l.StartsWith("URL: ", StringComparison.Ordinal))[5..];
        return (Path.GetFileNameWithoutExtension(path), url, File.ReadAllBytes(Path.Combine(NixFixtures.CacheDir(compression), url)));
    }
}
