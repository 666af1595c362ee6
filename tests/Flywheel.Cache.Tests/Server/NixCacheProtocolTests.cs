using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Tests.Server;

/// <summary>The Nix binary cache routes, over real HTTP against a daemon on the embedded default.</summary>
public sealed class NixCacheProtocolTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public NixCacheProtocolTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task Serves_nix_cache_info()
    {
        using var client = _daemon.CreateClient();
        using var response = await client.GetAsync("/main/nix-cache-info");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/x-nix-cache-info", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Nix_cache_info_uploads_are_acknowledged_for_existing_caches_and_refused_for_unknown_ones()
    {
        var body = new StringContent("StoreDir: /nix/store\n");
        using var anonymous = _daemon.CreateClient();
        using (var unauthenticated = await anonymous.PutAsync("/main/nix-cache-info", body))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        }

        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        using (var acknowledged = await pusher.PutAsync("/main/nix-cache-info", body))
        {
            Assert.Equal(HttpStatusCode.NoContent, acknowledged.StatusCode);
        }

        using var unknown = await pusher.PutAsync("/nowhere/nix-cache-info", body);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("flywheel cache create nowhere", await unknown.Content.ReadAsStringAsync());
        Assert.Contains("Priority: 40", await anonymous.GetStringAsync("/main/nix-cache-info"));
    }

    [Fact]
    public async Task Pushed_path_is_served_signed_by_the_cache_with_uploaded_signatures_kept()
    {
        var upload = NarUpload.Create("hello-1.0", "hello world\n");
        var foreignKey = NixSigningKey.Generate("builder-1");
        var foreignSig = foreignKey.Sign(NarInfo.Parse(Encoding.UTF8.GetBytes(upload.NarInfo), "/nix/store").Fingerprint());
        upload = upload with { NarInfo = upload.NarInfo + $"Sig: {foreignSig}\n" };
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        await upload.PushAsync(pusher);

        using var client = _daemon.CreateClient();
        using var response = await client.GetAsync($"/main/{upload.StorePathHash}.narinfo");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/x-nix-narinfo", response.Content.Headers.ContentType?.MediaType);
        var served = NarInfo.Parse(await response.Content.ReadAsByteArrayAsync(), "/nix/store");
        Assert.Equal(upload.StorePath, served.StorePath.FullPath);
        Assert.Contains(foreignSig, served.Sigs);

        var cacheKey = NixPublicKey.Parse(await CachePublicKeyAsync(client));
        var ours = Assert.Single(served.Sigs, s => s.StartsWith(cacheKey.Name + ":", StringComparison.Ordinal));
        Assert.True(cacheKey.Verify(served.Fingerprint(), ours));

        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/main/{upload.StorePathHash}.narinfo"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());

        Assert.Equal(upload.Nar, await client.GetByteArrayAsync($"/main/{served.Url}"));
    }

    [Fact]
    public async Task A_second_upload_of_the_same_output_by_another_builder_adds_its_signature()
    {
        var upload = NarUpload.Create("hello-1.0", "built twice\n");
        var first = NixSigningKey.Generate("builder-1");
        var second = NixSigningKey.Generate("builder-2");
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        await (upload with { NarInfo = Flywheel.Cache.Tests.Nix.NarInfoSignatureMergeTests.SignedBy(upload, first) }).PushAsync(pusher);
        await (upload with { NarInfo = Flywheel.Cache.Tests.Nix.NarInfoSignatureMergeTests.SignedBy(upload, second) }).PushAsync(pusher);

        using var client = _daemon.CreateClient();
        var served = NarInfo.Parse(await client.GetByteArrayAsync($"/main/{upload.StorePathHash}.narinfo"), "/nix/store");
        Assert.True(served.IsSignedByAny([first.PublicKey]));
        Assert.True(served.IsSignedByAny([second.PublicKey]));
        Assert.True(served.IsSignedByAny([NixPublicKey.Parse(await CachePublicKeyAsync(client))]));
        Assert.Equal(3, served.Sigs.Count);
    }

    [Fact]
    public async Task Nar_get_honours_ranges()
    {
        var upload = NarUpload.Create("ranged", new string('x', 5000));
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        await upload.PushAsync(pusher);

        using var client = _daemon.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/main/nar/{upload.NarFileName}");
        request.Headers.Range = new RangeHeaderValue(100, 199);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(upload.Nar[100..200], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(upload.Nar.Length, response.Content.Headers.ContentRange?.Length);

        using var beyond = new HttpRequestMessage(HttpMethod.Get, $"/main/nar/{upload.NarFileName}");
        beyond.Headers.Range = new RangeHeaderValue(upload.Nar.Length + 10, null);
        using var unsatisfiable = await client.SendAsync(beyond);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
    }

    [Theory]
    [InlineData("/main/00000000000000000000000000000000.narinfo", HttpStatusCode.NotFound)]
    [InlineData("/main/too-short.narinfo", HttpStatusCode.BadRequest)]
    [InlineData("/main/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo", HttpStatusCode.BadRequest)]
    [InlineData("/no-such-cache/00000000000000000000000000000000.narinfo", HttpStatusCode.NotFound)]
    [InlineData("/main/nar/..%2F..%2Fetc%2Fpasswd", HttpStatusCode.BadRequest)]
    [InlineData("/main/nar/0000000000000000000000000000000000000000000000000000.nar.gz", HttpStatusCode.BadRequest)]
    [InlineData("/main/nar/0000000000000000000000000000000000000000000000000000.nar", HttpStatusCode.NotFound)]
    [InlineData("/main/log/..%2F..%2Fetc%2Fpasswd", HttpStatusCode.BadRequest)]
    [InlineData("/Main/nix-cache-info", HttpStatusCode.NotFound)]
    [InlineData("/cas/00000000000000000000000000000000.narinfo", HttpStatusCode.BadRequest)] // Bazel's /cas/{hash}, not a cache
    [InlineData("/ac/nix-cache-info", HttpStatusCode.BadRequest)]
    [InlineData("/main/.narinfo", HttpStatusCode.NotFound)]
    public async Task Reads_answer_misses_and_bad_names_clearly(string path, HttpStatusCode expected)
    {
        using var client = _daemon.CreateClient();
        using var response = await client.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.BadRequest)
        {
            Assert.NotEmpty(await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Nar_whose_bytes_do_not_match_its_name_is_refused_and_not_stored()
    {
        var upload = NarUpload.Create("tampered", "original");
        var tampered = NarBuilder.RegularFile("tampered");
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        using var put = await pusher.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(tampered));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("does not match its name", await put.Content.ReadAsStringAsync());

        using var get = await pusher.GetAsync($"/main/nar/{upload.NarFileName}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        using var info = await pusher.PutAsync($"/main/{upload.StorePathHash}.narinfo", new StringContent(upload.NarInfo));
        Assert.Equal(HttpStatusCode.BadRequest, info.StatusCode);
    }

    [Fact]
    public async Task Bytes_that_are_not_a_nar_are_refused()
    {
        var bytes = Encoding.UTF8.GetBytes("this is not a NAR archive at all");
        var name = NixBase32.Encode(Flywheel.Cache.Storage.BlobDigest.Compute(bytes).ToBytes()) + ".nar";
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        using var put = await pusher.PutAsync($"/main/nar/{name}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("junk")]
    public async Task Nar_that_is_not_exactly_one_archive_is_refused_and_not_stored(string problem)
    {
        var valid = NarBuilder.Directory(new Dictionary<string, NarBuilder.Node>
        {
            ["bin/hello"] = NarBuilder.Node.File("#!/bin/sh\necho hello\n", executable: true),
            ["share/doc"] = NarBuilder.Node.Symlink("../bin/hello"),
        });
        byte[] bytes = problem == "truncated" ? valid[..^8] : [.. valid, .. "junk after the archive"u8];
        var name = NixBase32.Encode(Flywheel.Cache.Storage.BlobDigest.Compute(bytes).ToBytes()) + ".nar";
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        using var put = await pusher.PutAsync($"/main/nar/{name}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains(problem == "truncated" ? "ends early" : "after the end", await put.Content.ReadAsStringAsync());
        using var get = await pusher.GetAsync($"/main/nar/{name}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Theory]
    [InlineData("System: x86_64-linux\r\n", "control character")]
    [InlineData("CA: fixed:r:sha256:nonsense\n", "CA (line")]
    public async Task Narinfo_with_control_characters_or_a_bad_CA_is_refused(string line, string expected)
    {
        var upload = NarUpload.Create("strict-" + expected.Length, "strict contents " + expected);
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        using (var nar = await pusher.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(upload.Nar)))
        {
            Assert.Equal(HttpStatusCode.NoContent, nar.StatusCode);
        }

        using var put = await pusher.PutAsync($"/main/{upload.StorePathHash}.narinfo", new StringContent(upload.NarInfo + line));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains(expected, await put.Content.ReadAsStringAsync());
        using var get = await pusher.GetAsync($"/main/{upload.StorePathHash}.narinfo");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Theory]
    [InlineData("NarHash")]
    [InlineData("NarSize")]
    [InlineData("FileSize")]
    [InlineData("StorePath")]
    [InlineData("Compression")]
    [InlineData("garbage")]
    public async Task Narinfo_that_does_not_match_its_nar_is_refused_with_the_mismatch_named(string field)
    {
        var upload = NarUpload.Create("mismatch", "some contents " + field);
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        using (var nar = await pusher.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(upload.Nar)))
        {
            Assert.Equal(HttpStatusCode.NoContent, nar.StatusCode);
        }

        var other = NarUpload.Create("other", "other contents");
        var text = field switch
        {
            "NarHash" => ReplaceLine(upload.NarInfo, "NarHash", other.NarInfo),
            "NarSize" => ReplaceLine(upload.NarInfo, "NarSize", "NarSize: 12345"),
            "FileSize" => ReplaceLine(upload.NarInfo, "FileSize", "FileSize: 12345"),
            "StorePath" => ReplaceLine(upload.NarInfo, "StorePath", $"StorePath: {other.StorePath}"),
            "Compression" => ReplaceLine(upload.NarInfo, "Compression", "Compression: xz"),
            _ => "this is: not\na narinfo",
        };
        using var put = await pusher.PutAsync($"/main/{upload.StorePathHash}.narinfo", new StringContent(text));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        var message = await put.Content.ReadAsStringAsync();
        if (field != "garbage")
        {
            Assert.Contains(field == "StorePath" ? "hash parts differ" : field, message);
        }

        using var get = await pusher.GetAsync($"/main/{upload.StorePathHash}.narinfo");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Oversized_narinfo_is_refused_and_the_daemon_keeps_serving()
    {
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        var hash = NixBase32.Encode(new byte[20]);
        using var put = await pusher.PutAsync($"/main/{hash}.narinfo", new ByteArrayContent(new byte[100_000]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, put.StatusCode);
        using var info = await pusher.GetAsync("/main/nix-cache-info");
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);
    }

    [Fact]
    public async Task Build_logs_are_stored_and_served_with_their_encoding()
    {
        var drv = NixBase32.Encode(new byte[20]).Replace('0', 'a') + "-hello.drv";
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("building hello\n"));
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        using (var put = await pusher.PutAsync($"/main/log/{drv}", content))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        using var client = _daemon.CreateClient();
        Assert.Equal("building hello\n", await client.GetStringAsync($"/main/log/{drv}"));
    }

    [Fact]
    public async Task Metrics_show_the_traffic_by_route()
    {
        using var client = _daemon.CreateClient();
        (await client.GetAsync("/main/nix-cache-info")).Dispose();
        (await client.GetAsync($"/main/{NixBase32.Encode(new byte[20])}.narinfo")).Dispose();
        using var pusher = _daemon.CreateClient(_daemon.AdminToken);
        await NarUpload.Create("metered", "counted").PushAsync(pusher);
        (await pusher.PutAsync($"/main/{NixBase32.Encode(new byte[20])}.narinfo", new StringContent("not a narinfo"))).Dispose();

        var text = await client.GetStringAsync("/metrics");
        Assert.Contains("flywheel_http_requests_total", text);
        Assert.Contains("/{cache}/nix-cache-info", text);
        Assert.Contains("/{cache}/{hash}.narinfo", text);
        Assert.Contains("flywheel_narinfo_lookups_total{cache=\"main\",result=\"miss\"}", text);
        Assert.Contains("flywheel_blob_store_operations_total{op=\"commit\",result=\"ok\"}", text);
        Assert.Contains("flywheel_blob_store_operation_duration_seconds_bucket", text);
        Assert.Contains("flywheel_uploads_rejected_total{reason=\"invalid\"}", text);
        Assert.Contains("flywheel_http_received_bytes_total", text);
    }

    private async Task<string> CachePublicKeyAsync(HttpClient client)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/_api/v1/caches/main"));
        return doc.RootElement.GetProperty("publicKey").GetString()!;
    }

    private static string ReplaceLine(string narInfo, string key, string replacementSource)
    {
        var replacement = replacementSource.Contains('\n')
            ? replacementSource.Split('\n').First(l => l.StartsWith(key + ":", StringComparison.Ordinal))
            : replacementSource;
        return string.Join('\n', narInfo.Split('\n').Select(l => l.StartsWith(key + ":", StringComparison.Ordinal) ? replacement : l));
    }
}
