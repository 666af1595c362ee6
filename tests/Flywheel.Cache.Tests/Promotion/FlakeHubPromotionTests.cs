using System.IO.Compression;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Server;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Tests.Server;
using static Flywheel.Cache.Tests.Promotion.PromotionClient;
using static Flywheel.Cache.Tests.Promotion.PromotionFixtures;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// A clean derivation promoted through the FlakeHub adapter of a real daemon to an in-test FlakeHub that checks
/// each request of the publish flow (token status, upload request with release metadata, tarball PUT with its
/// checksum, publish), all with the CI's OIDC token passed through.
/// </summary>
public sealed class FlakeHubPromotionTests : IAsyncLifetime
{
    private const string OidcToken = "ci-oidc-token";
    private readonly DaemonFixture _daemon = new();
    private InTestFlakeHub _flakeHub = null!;

    public async Task InitializeAsync()
    {
        _flakeHub = await InTestFlakeHub.StartAsync(OidcToken, "o/hello", "0.1.0+rev-0123abcd");
        _daemon.Settings[ConfigKeys.FlakeHubUrl] = _flakeHub.Address.ToString();
        await _daemon.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _flakeHub.DisposeAsync();
    }

    [Fact]
    public async Task A_clean_derivation_is_released_through_each_step_of_the_flow()
    {
        var admin = _daemon.CreateClient(_daemon.AdminToken);
        var client = _daemon.CreateClient(await CreatePromoteTokenAsync(admin));
        var upload = NarUpload.FromNar("hello-2.12", NarBuilder.RegularFile("#!/bin/sh\necho hello\n"), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv");
        await upload.PushAsync(client);
        var narHash = upload.NarInfo.Split('\n').First(l => l.StartsWith("NarHash: ", StringComparison.Ordinal))["NarHash: ".Length..];
        var policy = """{"trustCacheKey": true, "allow": ["packages.*.hello"]}""";
        var body = new PromotionRequestBody("main", [upload.StorePath], policy, "packages.x86_64-linux.hello", "https://github.com/o/hello", "0123abcd",
            "flakehub://o/hello", Rebuilds: [new RebuildCheck(upload.StorePath, narHash)], Credentials: new PublishCredentials(null, null, OidcToken));

        var promotion = await PromoteAsync(client, body);

        Assert.True(promotion.Status == "published", promotion.Error + " " + string.Join(", ", _flakeHub.Requests));
        Assert.Equal("clean-derivation", promotion.Class);
        Assert.All(promotion.Decision!.Value.GetProperty("rules").EnumerateArray(), r => Assert.True(r.GetProperty("passed").GetBoolean(), r.ToString()));
        Assert.Equal(["GET /token/status", "POST /upload/o/hello/0.1.0+rev-0123abcd/", "PUT /s3/release", "POST /publish/0192f000-0000-7000-8000-000000000001"],
            _flakeHub.Requests.Select(r => r.StartsWith("POST /upload/", StringComparison.Ordinal) ? r[..(r.IndexOf("abcd/", StringComparison.Ordinal) + 5)] : r));
        Assert.Equal("0123abcd", _flakeHub.Metadata!.Value.GetProperty("revision").GetString());

        using var gzip = new GZipStream(new MemoryStream(_flakeHub.Tarball!), CompressionMode.Decompress);
        using var tar = new System.Formats.Tar.TarReader(gzip);
        var entry = tar.GetNextEntry()!;
        Assert.Equal(upload.BaseName, entry.Name);
        Assert.Equal("#!/bin/sh\necho hello\n", new StreamReader(entry.DataStream!).ReadToEnd());

        var subjects = promotion.Provenance!.Value.GetProperty("subject").EnumerateArray().ToList();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_flakeHub.Tarball!)), subjects[0].GetProperty("digest").GetProperty("sha256").GetString());

        // A promoted path is pinned: retention never collects it or its closure.
        var pins = await admin.GetFromJsonAsync<JsonElement>("/_api/v1/caches/main/pins");
        Assert.Contains(pins.EnumerateArray(), p => p.GetProperty("storePathHash").GetString() == upload.StorePathHash
            && p.GetProperty("reason").GetString()!.StartsWith("promotion ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_the_oidc_token_the_publication_fails_and_is_recorded_so()
    {
        var admin = _daemon.CreateClient(_daemon.AdminToken);
        var client = _daemon.CreateClient(await CreatePromoteTokenAsync(admin));
        var upload = NarUpload.FromNar("hello-2.12", NarBuilder.RegularFile("x"), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.drv");
        await upload.PushAsync(client);
        var policy = $$$"""{"trustedKeys": ["{{{Builder1.PublicKey}}}"], "trustCacheKey": true, "allow": ["hello-*"], "require": {"clean-derivation": ["provenance"]}}""";
        var body = new PromotionRequestBody("main", [upload.StorePath], policy, null, null, null, "flakehub://o/hello",
            Credentials: new PublishCredentials(null, null, "wrong"));

        var promotion = await PromoteAsync(client, body);

        Assert.Equal("failed", promotion.Status);
        Assert.Contains("FlakeHub GET token answered 401", promotion.Error);
        Assert.Null(_flakeHub.Tarball);
    }
}
