using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Compression;
using Google.Bytestream;
using Google.Protobuf;
using Grpc.Core;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>Every REAPI RPC the daemon serves, over real HTTP/2 against a daemon on the embedded default.</summary>
public sealed class ReapiServiceTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public ReapiServiceTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    private ReapiClient Pusher() => new(_daemon.GrpcAddress, _daemon.AdminToken);

    private ReapiClient Anonymous() => new(_daemon.GrpcAddress, null);

    [Fact]
    public async Task Capabilities_advertise_sha256_a_writable_action_cache_and_api_2_0()
    {
        using var client = Anonymous();
        var caps = await client.CapabilitiesAsync();
        Assert.Contains(DigestFunction.Types.Value.Sha256, caps.CacheCapabilities.DigestFunctions);
        Assert.True(caps.CacheCapabilities.ActionCacheUpdateCapabilities.UpdateEnabled);
        Assert.Equal(2, caps.LowApiVersion.Major);
        Assert.Equal(0, caps.LowApiVersion.Minor);
        Assert.True(caps.HighApiVersion.Major == 2 && caps.HighApiVersion.Minor >= 0);
        Assert.Equal(4 * 1024 * 1024, caps.CacheCapabilities.MaxBatchTotalSizeBytes);
        Assert.Contains(Compressor.Types.Value.Zstd, caps.CacheCapabilities.SupportedCompressors);
    }

    [Fact]
    public async Task Unknown_instance_is_not_found_and_a_bad_one_invalid()
    {
        using var client = Anonymous();
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.CapabilitiesAsync("nowhere"))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => client.CapabilitiesAsync("Bad Name"))).StatusCode);
    }

    [Fact]
    public async Task A_100_KB_instance_name_is_invalid_with_a_short_message_and_the_connection_keeps_working()
    {
        using var client = Pusher();
        var huge = new string('a', 100 * 1024);
        var capabilities = await Assert.ThrowsAsync<RpcException>(() => client.CapabilitiesAsync(huge));
        Assert.Equal(StatusCode.InvalidArgument, capabilities.StatusCode);
        Assert.True(capabilities.Status.Detail.Length < 500, $"a message of {capabilities.Status.Detail.Length} characters");

        var action = ReapiClient.DigestOf(RandomBytes(32));
        var read = await Assert.ThrowsAsync<RpcException>(() => client.ReadAsync($"{huge}/blobs/{action.Hash}/{action.SizeBytes}"));
        Assert.Equal(StatusCode.InvalidArgument, read.StatusCode);
        Assert.True(read.Status.Detail.Length < 500, $"a message of {read.Status.Detail.Length} characters");

        Assert.Equal(2, (await client.CapabilitiesAsync()).LowApiVersion.Major);
    }

    [Fact]
    public async Task Find_missing_reports_absent_blobs_and_wrong_sizes_but_never_the_empty_blob()
    {
        using var client = Pusher();
        var present = RandomBytes(1000);
        var absent = RandomBytes(1000);
        await client.BatchUpdateAsync((ReapiClient.DigestOf(present), present));
        var wrongSize = ReapiClient.DigestOf(present).Clone();
        wrongSize.SizeBytes = 999;
        var empty = ReapiClient.DigestOf([]);

        var response = await client.FindMissingAsync(ReapiClient.DigestOf(present), ReapiClient.DigestOf(absent), wrongSize, empty);
        Assert.Equal([ReapiClient.DigestOf(absent), wrongSize], response.MissingBlobDigests.ToArray());
    }

    [Fact]
    public async Task Malformed_digests_are_invalid_argument()
    {
        using var client = Pusher();
        var error = await Assert.ThrowsAsync<RpcException>(() => client.FindMissingAsync(new Digest { Hash = "not-a-hash", SizeBytes = 3 }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("not-a-hash", error.Status.Detail);
    }

    [Fact]
    public async Task Batch_update_answers_per_blob_and_stores_only_verified_blobs()
    {
        using var client = Pusher();
        var good = RandomBytes(5000);
        var bad = RandomBytes(5000);
        var claimed = ReapiClient.DigestOf(RandomBytes(5000));
        var response = await client.BatchUpdateAsync((ReapiClient.DigestOf(good), good), (claimed, bad), (ReapiClient.DigestOf(good), good));
        Assert.Equal([0, (int)StatusCode.InvalidArgument, 0], response.Responses.Select(r => r.Status.Code).ToArray());
        Assert.Contains("mismatch", response.Responses[1].Status.Message, StringComparison.OrdinalIgnoreCase);

        var missing = await client.FindMissingAsync(ReapiClient.DigestOf(good), claimed);
        Assert.Equal([claimed], missing.MissingBlobDigests.ToArray());
    }

    [Fact]
    public async Task Oversized_batches_are_refused_whole()
    {
        using var client = Pusher();
        var big = RandomBytes(3 * 1024 * 1024);
        var other = RandomBytes(2 * 1024 * 1024);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.BatchUpdateAsync((ReapiClient.DigestOf(big), big), (ReapiClient.DigestOf(other), other)));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(2, (await client.FindMissingAsync(ReapiClient.DigestOf(big), ReapiClient.DigestOf(other))).MissingBlobDigests.Count);
    }

    [Fact]
    public async Task Batch_read_returns_data_or_not_found_per_blob()
    {
        using var client = Pusher();
        var stored = RandomBytes(700);
        await client.BatchUpdateAsync((ReapiClient.DigestOf(stored), stored));
        var absent = ReapiClient.DigestOf(RandomBytes(10));
        var response = await client.BatchReadAsync(ReapiClient.DigestOf(stored), absent, ReapiClient.DigestOf([]));
        Assert.Equal(stored, response.Responses[0].Data.ToByteArray());
        Assert.Equal((int)StatusCode.NotFound, response.Responses[1].Status.Code);
        Assert.Equal(0, response.Responses[2].Status.Code);
        Assert.True(response.Responses[2].Data.IsEmpty);
    }

    [Fact]
    public async Task ByteStream_writes_and_reads_a_large_blob_in_chunks_with_offsets()
    {
        using var client = Pusher();
        var data = RandomBytes(5 * 1024 * 1024 + 123);
        var digest = ReapiClient.DigestOf(data);
        var write = await client.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", data, chunk: 256 * 1024);
        Assert.Equal(data.Length, write.CommittedSize);

        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));
        Assert.Equal(data[1000..3000], await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}", offset: 1000, limit: 2000));
        var beyond = await Assert.ThrowsAsync<RpcException>(() => client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}", offset: data.Length + 1));
        Assert.Equal(StatusCode.OutOfRange, beyond.StatusCode);
        var absent = ReapiClient.DigestOf(RandomBytes(4));
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.ReadAsync($"blobs/{absent.Hash}/4"))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => client.ReadAsync("blobs/../../etc/passwd"))).StatusCode);
    }

    [Fact]
    public async Task ByteStream_write_with_the_wrong_digest_or_size_stores_nothing()
    {
        using var client = Pusher();
        var data = RandomBytes(100_000);
        var claimed = ReapiClient.DigestOf(RandomBytes(100_000));
        var error = await Assert.ThrowsAsync<RpcException>(() => client.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{claimed.Hash}/{claimed.SizeBytes}", data));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Single((await client.FindMissingAsync(claimed)).MissingBlobDigests);

        var real = ReapiClient.DigestOf(data);
        var sizeError = await Assert.ThrowsAsync<RpcException>(() => client.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{real.Hash}/{real.SizeBytes - 1}", data));
        Assert.Equal(StatusCode.InvalidArgument, sizeError.StatusCode);
        Assert.Single((await client.FindMissingAsync(real)).MissingBlobDigests);
    }

    [Fact]
    public async Task ByteStream_write_of_a_blob_that_exists_returns_early_and_duplicates_are_harmless()
    {
        using var client = Pusher();
        var data = RandomBytes(300_000);
        var digest = ReapiClient.DigestOf(data);
        var resource = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        await client.WriteAsync(resource, data);
        var again = await client.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", data);
        Assert.Equal(data.Length, again.CommittedSize);
        var status = await client.QueryWriteStatusAsync(resource);
        Assert.True(status.Complete);
        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));
    }

    [Fact]
    public async Task Interrupted_write_is_resumed_from_the_committed_offset()
    {
        using var client = Pusher();
        var data = RandomBytes(2 * 1024 * 1024);
        var digest = ReapiClient.DigestOf(data);
        var resource = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        await Assert.ThrowsAnyAsync<Exception>(() => client.WriteAsync(resource, data, chunk: 64 * 1024, stopAfter: 1024 * 1024));

        QueryWriteStatusResponse status = new();
        for (var i = 0; i < 50 && status.CommittedSize == 0; i++)
        {
            await Task.Delay(50); // the server sees the broken stream asynchronously
            status = await client.QueryWriteStatusAsync(resource);
        }

        Assert.False(status.Complete);
        Assert.InRange(status.CommittedSize, 64 * 1024, 1024 * 1024);
        var resumed = await client.WriteAsync(resource, data, offset: status.CommittedSize);
        Assert.Equal(data.Length, resumed.CommittedSize);
        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));

        var wrongOffset = await Assert.ThrowsAsync<RpcException>(() => client.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{ReapiClient.DigestOf(RandomBytes(9)).Hash}/9", RandomBytes(9), offset: 5));
        Assert.Equal(StatusCode.InvalidArgument, wrongOffset.StatusCode);
    }

    [Fact]
    public async Task Zstd_compressed_blobs_are_written_and_read()
    {
        using var client = Pusher();
        var data = new byte[1024 * 1024];
        RandomNumberGenerator.Fill(data.AsSpan(0, 1000)); // compressible
        var digest = ReapiClient.DigestOf(data);
        var compressed = ZstdCompressor.CompressAll(data);
        await client.WriteAsync($"uploads/{Guid.NewGuid()}/compressed-blobs/zstd/{digest.Hash}/{digest.SizeBytes}", compressed);
        var read = await client.ReadAsync($"compressed-blobs/zstd/{digest.Hash}/{digest.SizeBytes}");
        Assert.Equal(data, Decompressors.DecompressAll(NarCompression.Zstd, read));
        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));
    }

    [Fact]
    public async Task Action_results_are_served_only_while_their_blobs_exist()
    {
        using var client = Pusher();
        var output = RandomBytes(2000);
        var stdout = "compiled ok\n"u8.ToArray();
        await client.BatchUpdateAsync((ReapiClient.DigestOf(output), output), (ReapiClient.DigestOf(stdout), stdout));
        var action = ReapiClient.DigestOf(RandomBytes(64));
        var result = new ActionResult { ExitCode = 0, StdoutDigest = ReapiClient.DigestOf(stdout) };
        result.OutputFiles.Add(new OutputFile { Path = "out/a.o", Digest = ReapiClient.DigestOf(output) });
        await client.UpdateActionResultAsync(action, result);

        var hit = await client.GetActionResultAsync(action, inlineStdout: true);
        Assert.Equal("out/a.o", hit.OutputFiles.Single().Path);
        Assert.Equal(stdout, hit.StdoutRaw.ToByteArray());

        var incomplete = ReapiClient.DigestOf(RandomBytes(64));
        var dangling = new ActionResult();
        dangling.OutputFiles.Add(new OutputFile { Path = "gone", Digest = ReapiClient.DigestOf(RandomBytes(50)) });
        await client.UpdateActionResultAsync(incomplete, dangling);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.GetActionResultAsync(incomplete))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.GetActionResultAsync(ReapiClient.DigestOf(RandomBytes(64))))).StatusCode);
    }

    [Fact]
    public async Task A_digest_function_other_than_sha256_is_invalid_argument_and_sha256_or_unset_is_served()
    {
        using var client = Pusher();
        var blob = RandomBytes(300);
        var digest = ReapiClient.DigestOf(blob);
        var action = ReapiClient.DigestOf(RandomBytes(64));
        var result = new ActionResult();
        result.OutputFiles.Add(new OutputFile { Path = "out", Digest = digest });
        var options = client.Options();

        // Every call that carries digest_function, with a function this server does not serve: refused, naming it.
        var blake3 = DigestFunction.Types.Value.Blake3;
        var refusals = new Func<Task>[]
        {
            () => client.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest }, DigestFunction = blake3 }, options).ResponseAsync,
            () => client.Cas.BatchUpdateBlobsAsync(
                new BatchUpdateBlobsRequest { Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = ByteString.CopyFrom(blob) } }, DigestFunction = blake3 },
                options).ResponseAsync,
            () => client.Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { digest }, DigestFunction = blake3 }, options).ResponseAsync,
            () => client.Cas.GetTree(new GetTreeRequest { RootDigest = digest, DigestFunction = blake3 }, options).ResponseStream.MoveNext(),
            () => client.ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest { ActionDigest = action, ActionResult = result, DigestFunction = blake3 }, options).ResponseAsync,
            () => client.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action, DigestFunction = blake3 }, options).ResponseAsync,
        };
        foreach (var call in refusals)
        {
            var error = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains("BLAKE3", error.Status.Detail);
        }

        Assert.Single((await client.FindMissingAsync(digest)).MissingBlobDigests); // the refused upload stored nothing

        // SHA256 named explicitly is served like unset (what clients before REAPI 2.3 send).
        var sha256 = DigestFunction.Types.Value.Sha256;
        var stored = await client.Cas.BatchUpdateBlobsAsync(
            new BatchUpdateBlobsRequest { Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = ByteString.CopyFrom(blob) } }, DigestFunction = sha256 },
            options);
        Assert.Equal(0, stored.Responses.Single().Status.Code);
        Assert.Empty((await client.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest }, DigestFunction = sha256 }, options)).MissingBlobDigests);
        Assert.Equal(blob, (await client.Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { digest }, DigestFunction = sha256 }, options)).Responses.Single().Data.ToByteArray());
        await client.ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest { ActionDigest = action, ActionResult = result, DigestFunction = sha256 }, options);
        var hit = await client.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action, DigestFunction = sha256 }, options);
        Assert.Equal("out", hit.OutputFiles.Single().Path);
    }

    [Fact]
    public async Task Writes_need_a_push_token_and_reads_of_a_public_instance_none()
    {
        using var anonymous = Anonymous();
        var action = ReapiClient.DigestOf(RandomBytes(64));
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(() => anonymous.UpdateActionResultAsync(action, new ActionResult()));
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);
        var data = RandomBytes(10);
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => anonymous.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{ReapiClient.DigestOf(data).Hash}/10", data))).StatusCode);

        var pullToken = await CreateTokenAsync("main", "pull");
        using var puller = new ReapiClient(_daemon.GrpcAddress, pullToken);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => puller.UpdateActionResultAsync(action, new ActionResult()))).StatusCode);
        await puller.FindMissingAsync(ReapiClient.DigestOf(data));
        await anonymous.FindMissingAsync(ReapiClient.DigestOf(data));

        using var wrong = new ReapiClient(_daemon.GrpcAddress, "fw1_wrong");
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => wrong.CapabilitiesAsync())).StatusCode);
    }

    [Fact]
    public async Task GetTree_streams_every_directory_in_pages()
    {
        using var client = Pusher();
        var file = RandomBytes(10);
        var leaf = new Build.Bazel.Remote.Execution.V2.Directory();
        leaf.Files.Add(new FileNode { Name = "f", Digest = ReapiClient.DigestOf(file) });
        var leafBytes = leaf.ToByteArray();
        var middle = new Build.Bazel.Remote.Execution.V2.Directory();
        middle.Directories.Add(new DirectoryNode { Name = "leaf", Digest = ReapiClient.DigestOf(leafBytes) });
        var middleBytes = middle.ToByteArray();
        var root = new Build.Bazel.Remote.Execution.V2.Directory();
        root.Directories.Add(new DirectoryNode { Name = "middle", Digest = ReapiClient.DigestOf(middleBytes) });
        var rootBytes = root.ToByteArray();
        await client.BatchUpdateAsync((ReapiClient.DigestOf(leafBytes), leafBytes), (ReapiClient.DigestOf(middleBytes), middleBytes), (ReapiClient.DigestOf(rootBytes), rootBytes));

        var pages = await client.GetTreeAsync(ReapiClient.DigestOf(rootBytes), pageSize: 1);
        Assert.Equal(3, pages.Count);
        Assert.Equal([root, middle, leaf], pages.SelectMany(p => p.Directories).ToArray());
        Assert.Equal("", pages[^1].NextPageToken);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => client.GetTreeAsync(ReapiClient.DigestOf(RandomBytes(8))))).StatusCode);
    }

    private async Task<string> CreateTokenAsync(string cache, string scopes)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(admin, "/_api/v1/tokens", new { cache, scopes });
        response.EnsureSuccessStatusCode();
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("secret").GetString()!;
    }

    internal static byte[] RandomBytes(int length) => RandomNumberGenerator.GetBytes(length);
}
