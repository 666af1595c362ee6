using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Storage;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>
/// Issue 14, item 1: bytes are stored once, but a cache (Bazel instance) serves, and reports as present, only blobs it
/// owns. A blob pushed only to a private cache must not come back, or be reported present, through any other cache.
/// </summary>
public sealed class CacheIsolationTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public CacheIsolationTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task A_blob_pushed_only_to_a_private_cache_is_not_served_over_http_by_other_caches()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        await CreateCacheAsync("other-" + Suffix(), isPublic: true);
        var blob = ReapiServiceTests.RandomBytes(4000);
        var hash = ReapiClient.DigestOf(blob).Hash;
        using var owner = _daemon.CreateClient(token);
        using (var put = await owner.PutAsync($"/{priv}/cas/{hash}", new ByteArrayContent(blob)))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        Assert.Equal(blob, await owner.GetByteArrayAsync($"/{priv}/cas/{hash}"));
        using var anonymous = _daemon.CreateClient();
        foreach (var path in new[] { $"/main/cas/{hash}", $"/cas/{hash}", $"/other-{_lastSuffix}/cas/{hash}" })
        {
            using var get = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
            using var head = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }

        // The admin (may read everything) asking main is no different: main does not own it.
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/main/cas/{hash}")).StatusCode);
    }

    [Fact]
    public async Task A_blob_pushed_only_to_a_private_cache_is_missing_and_not_found_over_grpc_on_main()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        var blob = ReapiServiceTests.RandomBytes(3000);
        var digest = ReapiClient.DigestOf(blob);
        using (var owner = new ReapiClient(_daemon.GrpcAddress, token, priv))
        {
            Assert.Equal((int)StatusCode.OK, (await owner.BatchUpdateAsync((digest, blob))).Responses[0].Status.Code);
            Assert.Empty((await owner.FindMissingAsync(digest)).MissingBlobDigests);
        }

        using var main = new ReapiClient(_daemon.GrpcAddress, token: null, "main");
        Assert.Equal([digest], (await main.FindMissingAsync(digest, new Digest { Hash = BlobDigest.Empty.ToHex(), SizeBytes = 0 })).MissingBlobDigests);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => main.ReadAsync($"main/blobs/{digest.Hash}/{digest.SizeBytes}"))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => main.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"))).StatusCode);
        var batch = await main.BatchReadAsync(digest);
        Assert.Equal((int)StatusCode.NotFound, batch.Responses[0].Status.Code);
        Assert.True(batch.Responses[0].Data.IsEmpty);
    }

    [Fact]
    public async Task Uploading_bytes_another_cache_has_verifies_them_records_them_for_this_cache_and_stores_them_once()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        var blob = ReapiServiceTests.RandomBytes(200_000);
        var digest = ReapiClient.DigestOf(blob);
        using (var owner = _daemon.CreateClient(token))
        {
            (await owner.PutAsync($"/{priv}/cas/{digest.Hash}", new ByteArrayContent(blob))).EnsureSuccessStatusCode();
        }

        var stored = await StoredAsync(digest.Hash);
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var main = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken, "main");

        // ByteStream Write does not answer "already there" for bytes main does not own: it takes the upload and
        // verifies it, so a client that only knows the digest cannot claim the blob with other bytes.
        var resource = $"main/uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        var lie = await Assert.ThrowsAsync<RpcException>(() => main.WriteAsync(resource, ReapiServiceTests.RandomBytes(blob.Length)));
        Assert.Equal(StatusCode.InvalidArgument, lie.StatusCode);
        Assert.False((await main.QueryWriteStatusAsync(resource)).Complete);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/main/cas/{digest.Hash}")).StatusCode);

        var write = await main.WriteAsync($"main/uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", blob);
        Assert.Equal(blob.Length, write.CommittedSize);

        Assert.Empty((await main.FindMissingAsync(digest)).MissingBlobDigests);
        Assert.Equal(blob, await admin.GetByteArrayAsync($"/main/cas/{digest.Hash}"));
        Assert.Equal(blob, await main.ReadAsync($"main/blobs/{digest.Hash}/{digest.SizeBytes}"));
        Assert.Equal(stored, await StoredAsync(digest.Hash)); // one object, not written again
    }

    [Fact]
    public async Task An_http_put_of_bytes_another_cache_has_makes_them_this_caches()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        var blob = ReapiServiceTests.RandomBytes(5000);
        var hash = ReapiClient.DigestOf(blob).Hash;
        using (var owner = _daemon.CreateClient(token))
        {
            (await owner.PutAsync($"/{priv}/cas/{hash}", new ByteArrayContent(blob))).EnsureSuccessStatusCode();
        }

        var stored = await StoredAsync(hash);
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var wrong = await admin.PutAsync($"/main/cas/{hash}", new ByteArrayContent(ReapiServiceTests.RandomBytes(blob.Length))))
        {
            Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/main/cas/{hash}")).StatusCode);
        (await admin.PutAsync($"/main/cas/{hash}", new ByteArrayContent(blob))).EnsureSuccessStatusCode();
        Assert.Equal(blob, await admin.GetByteArrayAsync($"/main/cas/{hash}"));
        Assert.Equal(stored, await StoredAsync(hash));
    }

    [Fact]
    public async Task An_action_result_cannot_borrow_another_caches_blobs()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        var output = ReapiServiceTests.RandomBytes(900);
        var outputDigest = ReapiClient.DigestOf(output);
        using (var owner = new ReapiClient(_daemon.GrpcAddress, token, priv))
        {
            await owner.BatchUpdateAsync((outputDigest, output));
        }

        // main (with push) stores an action result naming priv's blob: it is a miss, and it does not make the blob main's.
        using var main = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken, "main");
        var result = new ActionResult { ExitCode = 0 };
        result.OutputFiles.Add(new OutputFile { Path = "out", Digest = outputDigest });
        var action = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(32));
        await main.UpdateActionResultAsync(action, result);

        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => main.GetActionResultAsync(action))).StatusCode);
        Assert.Equal([outputDigest], (await main.FindMissingAsync(outputDigest)).MissingBlobDigests);
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/main/ac/{action.Hash}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/main/cas/{outputDigest.Hash}")).StatusCode);

        // Once main has the bytes itself, the entry is a hit.
        await main.BatchUpdateAsync((outputDigest, output));
        Assert.Equal(result, await main.GetActionResultAsync(action));
    }

    [Fact]
    public async Task Get_tree_reads_only_directories_the_instance_owns()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        var leaf = new Directory();
        leaf.Files.Add(new FileNode { Name = "f", Digest = ReapiClient.DigestOf([1, 2, 3]) });
        var leafBytes = leaf.ToByteArray();
        var root = new Directory();
        root.Directories.Add(new DirectoryNode { Name = "sub", Digest = ReapiClient.DigestOf(leafBytes) });
        var rootBytes = root.ToByteArray();
        using (var owner = new ReapiClient(_daemon.GrpcAddress, token, priv))
        {
            await owner.BatchUpdateAsync((ReapiClient.DigestOf(rootBytes), rootBytes), (ReapiClient.DigestOf(leafBytes), leafBytes));
            Assert.Equal([root, leaf], (await owner.GetTreeAsync(ReapiClient.DigestOf(rootBytes))).SelectMany(p => p.Directories));
        }

        using var main = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken, "main");
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => main.GetTreeAsync(ReapiClient.DigestOf(rootBytes)))).StatusCode);

        // main owning the root only gets the root: the subdirectory is priv's.
        await main.BatchUpdateAsync((ReapiClient.DigestOf(rootBytes), rootBytes));
        Assert.Equal([root], (await main.GetTreeAsync(ReapiClient.DigestOf(rootBytes))).SelectMany(p => p.Directories));
    }

    [Fact]
    public async Task A_nar_pushed_to_a_private_cache_is_not_readable_through_main_cas_but_one_pushed_to_main_is()
    {
        var (priv, token) = await CreatePrivateCacheAsync();
        using var owner = _daemon.CreateClient(token);
        var secret = NarUpload.Create("secret", "private bytes " + Suffix());
        await secret.PushAsync(owner, priv);
        var secretHex = BlobDigest.Compute(secret.Nar).ToHex();

        using var anonymous = _daemon.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/main/nar/{secret.NarFileName}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/main/cas/{secretHex}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/cas/{secretHex}")).StatusCode);
        Assert.Equal(secret.Nar, await owner.GetByteArrayAsync($"/{priv}/cas/{secretHex}"));

        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        var shared = NarUpload.Create("shared", "main's bytes " + Suffix());
        await shared.PushAsync(admin);
        Assert.Equal(shared.Nar, await anonymous.GetByteArrayAsync($"/main/cas/{BlobDigest.Compute(shared.Nar).ToHex()}"));
    }

    private string _lastSuffix = "";

    private string Suffix() => _lastSuffix = Guid.NewGuid().ToString("N")[..10];

    /// <summary>A new private cache and a pull+push token for it.</summary>
    private async Task<(string Name, string Token)> CreatePrivateCacheAsync()
    {
        var name = "priv-" + Suffix();
        await CreateCacheAsync(name, isPublic: false);
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache = name, scopes = "pull,push" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (name, doc.RootElement.GetProperty("secret").GetString()!);
    }

    private async Task CreateCacheAsync(string name, bool isPublic)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var create = await admin.PostAsJsonAsync("/_api/v1/caches", new { name, @public = isPublic });
        Assert.Equal(HttpStatusCode.Created, create.StatusCode);
    }

    /// <summary>The stored object of a blob as the store lists it (its modification time changes if it is written again).</summary>
    private async Task<StoredBlob> StoredAsync(string hex)
    {
        var digest = BlobDigest.ParseHex(hex);
        var store = _daemon.Services.GetRequiredService<IBlobStore>();
        var found = new List<StoredBlob>();
        await foreach (var blob in store.ListAsync(CancellationToken.None))
        {
            if (blob.Digest == digest)
            {
                found.Add(blob);
            }
        }

        return Assert.Single(found);
    }
}
