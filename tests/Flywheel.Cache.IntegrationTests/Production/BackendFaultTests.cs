using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.Tests.Server.BazelGrpc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Flywheel.Cache.IntegrationTests.Production;

/// <summary>
/// The object store or the database going away while a gateway serves: clients get 503 (UNAVAILABLE over gRPC),
/// nothing partial or corrupt becomes visible, and the gateway recovers by itself when the backend returns.
/// </summary>
public sealed class BackendFaultTests(ProductionBackend backend) : IClassFixture<ProductionBackend>, IAsyncLifetime
{
    private FlywheelProcess _gateway = null!;

    public async Task InitializeAsync() => _gateway = await backend.StartGatewayAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Object_store_down_gives_503_stores_nothing_and_recovers()
    {
        using var client = Client();
        var stored = RandomNumberGenerator.GetBytes(100_000);
        var storedHash = Hash(stored);
        (await client.PutAsync($"cas/{storedHash}", new ByteArrayContent(stored))).EnsureSuccessStatusCode();

        backend.S3.Kill();
        try
        {
            using (var read = await client.GetAsync($"cas/{storedHash}"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
                Assert.Contains("S3", await read.Content.ReadAsStringAsync());
            }

            var lost = RandomNumberGenerator.GetBytes(20 * 1024 * 1024);
            using (var write = await client.PutAsync($"cas/{Hash(lost)}", new ByteArrayContent(lost)))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, write.StatusCode);
            }

            using (var ready = await client.GetAsync("readyz"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                Assert.Contains("storage", await ready.Content.ReadAsStringAsync());
            }

            await backend.S3.StartAsync();
            Assert.Equal(stored, await client.GetByteArrayAsync($"cas/{storedHash}"));
            using (var gone = await client.GetAsync($"cas/{Hash(lost)}"))
            {
                Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode); // the failed upload left nothing visible
            }

            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("readyz")).StatusCode);
        }
        finally
        {
            await EnsureS3RunningAsync();
        }
    }

    [Fact]
    public async Task Database_down_gives_503_and_unavailable_and_recovers()
    {
        using var client = Client();
        using var grpc = GrpcChannel.ForAddress($"http://127.0.0.1:{_gateway.GrpcPort}/");
        var cas = new ContentAddressableStorage.ContentAddressableStorageClient(grpc);
        var health = new Health.HealthClient(grpc);
        CallOptions Options() => new(new Metadata { { "authorization", "Bearer " + backend.AdminToken } }, DateTime.UtcNow.AddSeconds(30));
        var unknownNarInfo = "main/" + new string('0', 32) + ".narinfo";
        using var watch = health.Watch(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddMinutes(2));
        await HealthWatch.NextAsync(watch, HealthCheckResponse.Types.ServingStatus.Serving);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest(), Options())).Status);

        await backend.Postgres.StopAsync();
        try
        {
            using (var narinfo = await client.GetAsync(unknownNarInfo))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, narinfo.StatusCode);
            }

            var blob = RandomNumberGenerator.GetBytes(1000);
            using (var put = await client.PutAsync($"cas/{Hash(blob)}", new ByteArrayContent(blob)))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, put.StatusCode);
            }

            var request = new FindMissingBlobsRequest();
            request.BlobDigests.Add(new Digest { Hash = Hash(blob), SizeBytes = blob.Length });
            var error = await Assert.ThrowsAsync<RpcException>(async () => await cas.FindMissingBlobsAsync(request, Options()));
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("readyz")).StatusCode);
            // grpc.health.v1 answers what /readyz answers: Check asks now, Watch hears it at the next publication
            var serverHealth = await health.CheckAsync(new HealthCheckRequest(), Options());
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, serverHealth.Status);
            var casHealth = await health.CheckAsync(new HealthCheckRequest { Service = ContentAddressableStorage.Descriptor.FullName }, Options());
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, casHealth.Status);
            await HealthWatch.NextAsync(watch, HealthCheckResponse.Types.ServingStatus.NotServing);

            await backend.Postgres.StartAsync();
            await RetryAsync(async () => Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(unknownNarInfo)).StatusCode));
            (await client.PutAsync($"cas/{Hash(blob)}", new ByteArrayContent(blob))).EnsureSuccessStatusCode();
            Assert.Equal(blob, await client.GetByteArrayAsync($"cas/{Hash(blob)}"));
            await HealthWatch.NextAsync(watch, HealthCheckResponse.Types.ServingStatus.Serving);
        }
        finally
        {
            if (!backend.Postgres.IsRunning)
            {
                await backend.Postgres.StartAsync();
            }
        }
    }

    [Fact]
    public async Task Upload_cut_off_halfway_leaves_nothing_visible()
    {
        var blob = RandomNumberGenerator.GetBytes(48 * 1024 * 1024); // several multipart parts
        var hash = Hash(blob);
        using (var cut = new HttpClient { BaseAddress = _gateway.BaseAddress })
        {
            cut.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", backend.AdminToken);
            using var abort = new CancellationTokenSource();
            var content = new StreamContent(new CuttingStream(blob, blob.Length / 2, abort));
            content.Headers.ContentLength = blob.Length;
            await Assert.ThrowsAnyAsync<Exception>(() => cut.PutAsync($"cas/{hash}", content, abort.Token));
        }

        using var client = Client();
        await Task.Delay(500); // the gateway notices the broken request
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"cas/{hash}")).StatusCode);
        (await client.PutAsync($"cas/{hash}", new ByteArrayContent(blob))).EnsureSuccessStatusCode();
        Assert.Equal(hash, Hash(await client.GetByteArrayAsync($"cas/{hash}")));
    }

    private HttpClient Client()
    {
        var client = new HttpClient { BaseAddress = _gateway.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", backend.AdminToken);
        return client;
    }

    private async Task EnsureS3RunningAsync()
    {
        try
        {
            using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            await probe.GetAsync(backend.S3.ServiceUrl);
        }
        catch (HttpRequestException)
        {
            await backend.S3.StartAsync();
        }
    }

    private static async Task RetryAsync(Func<Task> check)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await check();
                return;
            }
            catch (Exception) when (attempt < 5)
            {
                await Task.Delay(500); // the first call after a restart may meet a connection the server closed
            }
        }
    }

    private static string Hash(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Sends the first <c>cutAt</c> bytes, then cancels the request, as a client that dies mid-upload.</summary>
    private sealed class CuttingStream(byte[] data, int cutAt, CancellationTokenSource abort) : MemoryStream(data, writable: false)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= cutAt)
            {
                await abort.CancelAsync();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return await base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, cutAt - Position)], cancellationToken);
        }
    }
}
