using System.Net;
using System.Security.Cryptography;
using Flywheel.Cache.Server.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Flywheel.Cache.Tests.Server;

public sealed class TransportMemoryPoolTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public TransportMemoryPoolTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public void A_returned_block_is_rented_again_without_a_new_allocation()
    {
        using var pool = new TransportMemoryPool(blockSize: 8192, maxRetained: 4);
        var first = pool.Rent();
        var memory = first.Memory;
        first.Dispose();

        using var second = pool.Rent(100);

        Assert.Equal(8192, second.Memory.Length);
        Assert.True(memory.Span == second.Memory.Span, "the same block comes back");
        Assert.Equal(1, pool.AllocatedCount);
        Assert.Equal(0, pool.RetainedCount);
    }

    [Fact]
    public void Free_blocks_beyond_the_bound_are_left_to_the_collector()
    {
        using var pool = new TransportMemoryPool(blockSize: 4096, maxRetained: 3);
        var blocks = Enumerable.Range(0, 10).Select(_ => pool.Rent()).ToList();
        blocks.ForEach(b => b.Dispose());

        Assert.Equal(3, pool.RetainedCount);
        Assert.Equal(10, pool.AllocatedCount);
        var again = Enumerable.Range(0, 5).Select(_ => pool.Rent()).ToList();
        Assert.Equal(12, pool.AllocatedCount); // three reused, two new
        again.ForEach(b => b.Dispose());
    }

    [Fact]
    public void A_request_larger_than_a_block_gets_its_own_array_that_is_not_kept()
    {
        using var pool = new TransportMemoryPool(blockSize: 4096, maxRetained: 3);
        var large = pool.Rent(10_000);

        Assert.True(large.Memory.Length >= 10_000);
        large.Dispose();
        Assert.Equal(0, pool.RetainedCount);
        Assert.Equal(0, pool.AllocatedCount);
        Assert.Equal(4096, pool.MaxBufferSize);
    }

    [Fact]
    public void Blocks_are_usable_from_many_threads_at_once()
    {
        using var pool = new TransportMemoryPool(blockSize: 4096, maxRetained: 8);
        Parallel.For(0, 10_000, i =>
        {
            using var block = pool.Rent();
            block.Memory.Span.Fill((byte)i);
            Assert.All(block.Memory.Span.ToArray(), b => Assert.Equal((byte)i, b));
        });

        Assert.InRange(pool.RetainedCount, 1, 8);
    }

    [Fact]
    public async Task The_daemon_receives_uploads_into_its_own_pool()
    {
        var factory = Assert.IsType<TransportMemoryPoolFactory>(_daemon.Services.GetRequiredService<IMemoryPoolFactory<byte>>());
        var content = RandomNumberGenerator.GetBytes(3 << 20);
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        using var client = _daemon.CreateClient(_daemon.AdminToken);

        using var response = await client.PutAsync($"cas/{hash}", new ByteArrayContent(content));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Contains(factory.Pools, pool => pool.AllocatedCount > 0 && pool.BlockSize == TransportMemoryPool.DefaultBlockSize);
        Assert.Equal(content, await client.GetByteArrayAsync($"cas/{hash}"));
    }
}
