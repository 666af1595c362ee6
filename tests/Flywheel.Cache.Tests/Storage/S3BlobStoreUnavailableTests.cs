using System.Diagnostics;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.S3;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Storage;

/// <summary>An S3 service that is not there (closed port, server killed mid-write) fails every call with Unavailable, promptly.</summary>
public sealed class S3BlobStoreUnavailableTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    private static CancellationToken None => CancellationToken.None;

    private static S3BlobStoreOptions ClosedPort() => new()
    {
        ServiceUrl = new Uri($"http://127.0.0.1:{LoopbackPorts.Next()}/"),
        Bucket = S3rverServer.Bucket,
        ForcePathStyle = true,
        AccessKey = S3rverServer.AccessKey,
        SecretKey = S3rverServer.SecretKey,
        RequestTimeout = TimeSpan.FromSeconds(3),
        MaxRetries = 1,
    };

    private static async Task AssertUnavailableAsync(Func<Task> call, string operation)
    {
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<CacheException>(call);
        Assert.Equal(CacheError.Unavailable, e.Error);
        Assert.Contains($"S3 {operation} ", e.Message);
        Assert.NotNull(e.InnerException);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, Prompt);
    }

    [Fact]
    public async Task Every_call_to_a_closed_port_is_unavailable()
    {
        using var store = new S3BlobStore(ClosedPort());
        var digest = BlobDigest.Compute("x"u8);

        await AssertUnavailableAsync(() => store.CheckHealthAsync(None), "HeadBucket");
        await AssertUnavailableAsync(() => store.OpenAsync(digest, None), "HeadObject");
        await AssertUnavailableAsync(() => store.FindMissingAsync([digest], None), "HeadObject");
        await AssertUnavailableAsync(() => store.DeleteAsync(digest, None), "HeadObject");
        await AssertUnavailableAsync(() => store.WriteAsync("x"u8.ToArray(), null, None), "PutObject");
        await AssertUnavailableAsync(async () => await store.ListAsync(None).ToListAsync(), "ListObjectsV2");
        await AssertUnavailableAsync(() => store.AbortStaleUploadsAsync(TimeSpan.FromHours(1)), "ListMultipartUploads");
        Assert.NotNull(await store.OpenAsync(BlobDigest.Empty, None)); // needs no call
    }

    [Fact]
    public async Task A_server_killed_mid_write_makes_the_write_and_reads_unavailable()
    {
        var server = new S3rverServer();
        await server.InitializeAsync();
        try
        {
            using var store = new S3BlobStore(server.Options("k/", 5 << 20) with { RequestTimeout = TimeSpan.FromSeconds(3) });
            var small = await store.WriteAsync(new byte[1000], null, None);
            var handle = (await store.OpenAsync(small.Digest, None))!;
            await using var writer = await store.BeginWriteAsync(null, None);
            await writer.WriteAsync(new byte[6 << 20], None); // one part out

            server.Kill();

            await AssertUnavailableAsync(async () => await writer.WriteAsync(new byte[5 << 20], None), "UploadPart");
            await AssertUnavailableAsync(() => handle.OpenReadAsync(None), "GetObject");
            await AssertUnavailableAsync(() => store.CheckHealthAsync(None), "HeadBucket");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
