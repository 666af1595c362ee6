using System.Net;
using System.Text;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tests.Nix;

namespace Flywheel.Cache.Tests.Upstream;

/// <summary>Read-through over real HTTP: a daemon in front of an upstream serving files that real Nix wrote.</summary>
public sealed class ReadThroughTests : IClassFixture<UpstreamGateway>
{
    private readonly UpstreamGateway _gateway;

    public ReadThroughTests(UpstreamGateway gateway)
    {
        _gateway = gateway;
    }

    [Theory]
    [MemberData(nameof(NixFixtures.Compressions), MemberType = typeof(NixFixtures))]
    public async Task Upstream_path_is_served_re_signed_then_its_nar_streamed_stored_and_served_without_the_upstream(NarCompression compression)
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(compression));
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        var (hash, narPath, nar) = UpstreamGateway.MainPath(compression);
        using var client = _gateway.Daemon.CreateClient();

        var text = await client.GetStringAsync($"/{cache}/{hash}.narinfo");
        var info = NarInfo.Parse(text);
        var cacheKey = NixPublicKey.Parse(await PublicKeyAsync(cache));
        Assert.Equal(narPath, info.Url); // the fixtures use nar/<filehash>.nar.<ext>, our form too
        Assert.True(info.IsSignedByAny([NixPublicKey.Parse(NixFixtures.PublicKey)]));
        Assert.True(info.IsSignedByAny([cacheKey]));

        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/{info.Url}"));
        Assert.Equal(1, upstream.Count($"/{hash}.narinfo"));
        Assert.Equal(1, upstream.NarRequests);

        // The pulled NAR file is the cache's own blob (served by its CAS routes), and no other cache's.
        var fileHash = BlobDigest.Compute(nar).ToHex();
        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/cas/{fileHash}"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/main/cas/{fileHash}")).StatusCode);

        upstream.FailWith = 500; // from now on the upstream is no help
        Assert.Equal(text, await client.GetStringAsync($"/{cache}/{hash}.narinfo"));
        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/{info.Url}"));
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/{cache}/{info.Url}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(1, upstream.NarRequests);
    }

    /// <summary>
    /// Nix asks HEAD narinfo before it copies (<c>nix copy --from</c>): HEAD answers as GET would, consulting the
    /// upstreams for the narinfo (one fetch, stored and re-signed), but never pulls a NAR.
    /// </summary>
    [Fact]
    public async Task Head_of_an_upstream_only_narinfo_answers_as_get_and_never_pulls_the_nar()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        var (hash, narPath, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        using var client = _gateway.Daemon.CreateClient();

        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/{cache}/{hash}.narinfo")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal("text/x-nix-narinfo", head.Content.Headers.ContentType?.MediaType);
            Assert.True(head.Content.Headers.ContentLength > 0);
        }

        Assert.Equal(1, upstream.Count($"/{hash}.narinfo"));
        var text = await client.GetStringAsync($"/{cache}/{hash}.narinfo"); // now ours: the upstream is not asked again
        Assert.Equal(1, upstream.Count($"/{hash}.narinfo"));
        Assert.True(NarInfo.Parse(text).IsSignedByAny([NixPublicKey.Parse(await PublicKeyAsync(cache))]));

        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/{cache}/{narPath}")))
        {
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }

        const string Missing = "00000000000000000000000000000000";
        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/{cache}/{Missing}.narinfo")))
        {
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }

        Assert.Equal(1, upstream.Count($"/{Missing}.narinfo")); // asked, as GET would
        Assert.Equal(0, upstream.NarRequests);
    }

    [Fact]
    public async Task A_narinfo_signed_by_an_untrusted_key_or_unsigned_is_a_miss_and_nothing_is_stored()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        var (depHash, _, _) = (NixFixtures.NarInfos(NarCompression.Xz).Select(n => Path.GetFileNameWithoutExtension(n.Path)).First(h => h != hash), 0, 0);
        Resign(upstream, hash, NixSigningKey.Generate("mallory-1"));
        Resign(upstream, depHash, key: null);
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();

        foreach (var h in new[] { hash, depHash })
        {
            using var response = await client.GetAsync($"/{cache}/{h}.narinfo");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        // Properly signed again upstream: served, which shows the refusals were not stored (and not remembered for long).
        File.Copy(Path.Combine(NixFixtures.CacheDir(NarCompression.Xz), hash + ".narinfo"), Path.Combine(upstream.Root, hash + ".narinfo"), overwrite: true);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        using var fixedResponse = await client.GetAsync($"/{cache}/{hash}.narinfo");
        Assert.Equal(HttpStatusCode.OK, fixedResponse.StatusCode);
        Assert.Contains("rejected", await MetricsLineAsync(cache, "narinfo"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_nar_that_does_not_hash_as_its_narinfo_says_is_an_error_and_leaves_nothing_stored()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var (hash, narPath, nar) = UpstreamGateway.MainPath(NarCompression.Xz);
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        await client.GetStringAsync($"/{cache}/{hash}.narinfo");

        var tampered = (byte[])nar.Clone();
        tampered[^1] ^= 1;
        await File.WriteAllBytesAsync(Path.Combine(upstream.Root, narPath), tampered);
        await AssertNarFailsAsync(client, $"/{cache}/{narPath}");

        await File.WriteAllBytesAsync(Path.Combine(upstream.Root, narPath), nar);
        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/{narPath}"));
        Assert.Equal(2, upstream.NarRequests);
    }

    [Fact]
    public async Task A_nar_whose_nar_hash_differs_from_the_signed_narinfo_is_an_error()
    {
        // The narinfo is validly signed but describes other NAR contents than the file (FileHash matches, NarHash not).
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Zstd));
        var (hash, narPath, _) = UpstreamGateway.MainPath(NarCompression.Zstd);
        var path = Path.Combine(upstream.Root, hash + ".narinfo");
        var info = NarInfo.Parse(await File.ReadAllTextAsync(path));
        info.NarHash = NixHash.FromDigest(Flywheel.Cache.Storage.BlobDigest.Compute("not this NAR"u8));
        info.Sigs.Clear();
        info.Sign(NixSigningKey.Parse(NixFixtures.SecretKey));
        await File.WriteAllTextAsync(path, info.Render());
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        await client.GetStringAsync($"/{cache}/{hash}.narinfo");

        await AssertNarFailsAsync(client, $"/{cache}/{narPath}");
        await AssertNarFailsAsync(client, $"/{cache}/{narPath}"); // fetched again: nothing was stored
        Assert.Equal(2, upstream.NarRequests);
        Assert.Contains("rejected", await MetricsLineAsync(cache, "nar"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hanging_upstream_times_out_as_unavailable_and_the_error_is_not_remembered_as_a_miss()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        upstream.Hang = true;

        var started = DateTime.UtcNow;
        using (var response = await client.GetAsync($"/{cache}/{hash}.narinfo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("did not answer within 1s", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        upstream.Hang = false;
        using var later = await client.GetAsync($"/{cache}/{hash}.narinfo");
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);
    }

    [Fact]
    public async Task A_nar_download_that_stalls_fails_and_leaves_nothing_then_succeeds_when_the_upstream_recovers()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.None));
        var (hash, narPath, nar) = UpstreamGateway.MainPath(NarCompression.None);
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        await client.GetStringAsync($"/{cache}/{hash}.narinfo");
        upstream.StallNarAfterBytes = 1000;

        await AssertNarFailsAsync(client, $"/{cache}/{narPath}");

        upstream.StallNarAfterBytes = null;
        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/{narPath}"));
    }

    [Fact]
    public async Task A_failing_upstream_is_unavailable_until_its_circuit_opens_then_skipped_and_shown_in_metrics_and_readyz()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        upstream.FailWith = 500;

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            using var response = await client.GetAsync($"/{cache}/{i:D8}abcdfghijklmnpqrsvwxyz00.narinfo");
            statuses.Add(response.StatusCode);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, statuses[0]);
        Assert.Equal(HttpStatusCode.NotFound, statuses[^1]); // skipped: answered from what we have
        Assert.InRange(upstream.Requests.Values.Sum(), 2, 5);
        Assert.Contains("} 1", await MetricsAsync("flywheel_upstream_circuit_open{", cache), StringComparison.Ordinal);
        using var ready = await client.GetAsync("/readyz");
        var readyText = await ready.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains($"\"cache\":\"{cache}\",\"url\":\"{upstream.BaseAddress.ToString().TrimEnd('/')}\",\"circuit\":\"open\"", readyText, StringComparison.Ordinal);

        upstream.FailWith = null; // after the break it is tried again
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        using var recovered = await client.GetAsync($"/{cache}/{hash}.narinfo");
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
    }

    [Fact]
    public async Task Misses_are_remembered_for_the_negative_ttl_only()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        const string missing = "00000000abcdfghijklmnpqrsvwxyz00";

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync($"/{cache}/{missing}.narinfo");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        Assert.Equal(1, upstream.Count($"/{missing}.narinfo"));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        using (await client.GetAsync($"/{cache}/{missing}.narinfo"))
        {
            Assert.Equal(2, upstream.Count($"/{missing}.narinfo"));
        }
    }

    [Fact]
    public async Task Fifty_concurrent_requests_for_an_uncached_path_make_one_upstream_fetch_of_each_file()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        upstream.Delay = TimeSpan.FromMilliseconds(300);
        var (hash, narPath, nar) = UpstreamGateway.MainPath(NarCompression.Xz);
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();

        var narInfos = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetStringAsync($"/{cache}/{hash}.narinfo")));
        Assert.Single(narInfos.Distinct());
        Assert.Equal(1, upstream.Count($"/{hash}.narinfo"));

        var nars = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetByteArrayAsync($"/{cache}/{narPath}")));
        Assert.All(nars, n => Assert.Equal(nar, n));
        Assert.Equal(1, upstream.NarRequests);
    }

    [Fact]
    public async Task A_client_that_goes_away_does_not_stop_the_download_which_completes_into_the_store()
    {
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        var (hash, narPath, nar) = UpstreamGateway.MainPath(NarCompression.Xz);
        var cache = await _gateway.CreateCacheAsync((upstream.BaseAddress, 10));
        using var client = _gateway.Daemon.CreateClient();
        await client.GetStringAsync($"/{cache}/{hash}.narinfo");
        upstream.Delay = TimeSpan.FromMilliseconds(700);

        using (var impatient = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetByteArrayAsync($"/{cache}/{narPath}", impatient.Token));
        }

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        upstream.FailWith = 404;
        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/{narPath}"));
        Assert.Equal(1, upstream.NarRequests);
    }

    [Fact]
    public async Task Upstreams_are_asked_in_priority_order_and_the_first_that_has_the_path_wins()
    {
        await using var empty = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        foreach (var file in Directory.GetFiles(empty.Root, "*.narinfo"))
        {
            File.Delete(file);
        }

        await using var xz = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Xz));
        await using var zstd = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.Zstd));
        var cache = await _gateway.CreateCacheAsync((zstd.BaseAddress, 30), (empty.BaseAddress, 10), (xz.BaseAddress, 20));
        var (hash, _, _) = UpstreamGateway.MainPath(NarCompression.Xz);
        using var client = _gateway.Daemon.CreateClient();

        var info = NarInfo.Parse(await client.GetStringAsync($"/{cache}/{hash}.narinfo"));

        Assert.Equal("xz", info.Compression);
        Assert.Equal(1, empty.Count($"/{hash}.narinfo"));
        Assert.Equal(1, xz.Count($"/{hash}.narinfo"));
        Assert.Empty(zstd.Requests);
    }

    [Fact]
    public async Task An_attic_style_narinfo_without_file_hash_is_served_under_its_nar_hash_and_the_token_is_sent()
    {
        // Attic serves uncompressed NARs under nar/<store path hash>.nar with no FileHash or FileSize.
        await using var upstream = await UpstreamServer.StartAsync(NixFixtures.CacheDir(NarCompression.None));
        var (hash, narPath, nar) = UpstreamGateway.MainPath(NarCompression.None);
        var narInfoPath = Path.Combine(upstream.Root, hash + ".narinfo");
        var lines = (await File.ReadAllLinesAsync(narInfoPath))
            .Where(l => !l.StartsWith("FileHash:", StringComparison.Ordinal) && !l.StartsWith("FileSize:", StringComparison.Ordinal))
            .Select(l => l.StartsWith("URL:", StringComparison.Ordinal) ? $"URL: nar/{hash}.nar" : l);
        await File.WriteAllTextAsync(narInfoPath, string.Join('\n', lines) + "\n");
        File.Move(Path.Combine(upstream.Root, narPath), Path.Combine(upstream.Root, "nar", hash + ".nar"));
        var cache = await _gateway.CreateCacheAsync(
            new Flywheel.Cache.Server.Api.AddUpstreamRequest(upstream.BaseAddress.ToString(), [NixFixtures.PublicKey], Token: "attic-token"));
        using var client = _gateway.Daemon.CreateClient();

        var info = NarInfo.Parse(await client.GetStringAsync($"/{cache}/{hash}.narinfo"));

        Assert.Equal(narPath, info.Url); // nar/<NarHash>.nar: for an uncompressed NAR the file is the NAR
        Assert.Equal(nar.Length, info.FileSize);
        Assert.Equal(nar, await client.GetByteArrayAsync($"/{cache}/{info.Url}"));
        Assert.All(upstream.Authorizations, a => Assert.Equal("Bearer attic-token", a));
        Assert.Equal(2, upstream.Authorizations.Count);
    }

    private static void Resign(UpstreamServer upstream, string hash, NixSigningKey? key)
    {
        var path = Path.Combine(upstream.Root, hash + ".narinfo");
        var info = NarInfo.Parse(File.ReadAllText(path));
        info.Sigs.Clear();
        if (key is not null)
        {
            info.Sign(key);
        }

        File.WriteAllText(path, info.Render());
    }

    private static async Task AssertNarFailsAsync(HttpClient client, string path)
    {
        try
        {
            using var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        catch (HttpRequestException)
        {
            // the response had started: the connection was cut, which a client sees as a failure too
        }
    }

    private async Task<string> PublicKeyAsync(string cache)
    {
        using var admin = _gateway.Admin();
        var view = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<Flywheel.Cache.Server.Api.CacheView>(admin, $"/_api/v1/caches/{cache}");
        return view!.PublicKey;
    }

    private async Task<string> MetricsLineAsync(string cache, string kind) =>
        await MetricsAsync("flywheel_upstream_fetches_total{", cache, $"kind=\"{kind}\"", "result=\"rejected\"");

    private async Task<string> MetricsAsync(params string[] parts)
    {
        using var client = _gateway.Daemon.CreateClient();
        var text = await client.GetStringAsync("/metrics");
        return string.Join('\n', text.Split('\n').Where(l => parts.All(p => l.Contains(p, StringComparison.Ordinal))));
    }
}
