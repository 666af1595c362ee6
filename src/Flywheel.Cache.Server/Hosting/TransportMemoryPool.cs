using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// The memory Kestrel's socket transport reads requests into and writes responses from: pinned blocks of
/// <see cref="BlockSize"/> bytes, kept on a bounded free list. Kestrel's own pool hands out 4 KiB blocks, and the
/// transport receives into one block per recv(2): a 64 MiB upload was 16,384 receives, each behind a 1-byte
/// MSG_PEEK that waits for data, and on this VM each system call costs microseconds. With 64 KiB blocks the same
/// upload is 1,024 of each (server CPU per 64 MiB PUT: 278 to about 130 ms). Small requests do not pay for the
/// size: a block is taken from the free list, never cleared, and returned when Kestrel has consumed it.
/// </summary>
/// <remarks>
/// Blocks above <see cref="MaxRetained"/> free ones are left to the GC, so an upload burst does not keep its peak:
/// the retained memory is at most <c>MaxRetained × BlockSize</c> (4 MiB by default; Kestrel asks for four pools). Blocks live on the pinned
/// object heap (the socket layer pins what it reads into; POH blocks cost nothing to pin and do not fragment the
/// normal heaps). A request for more than <see cref="BlockSize"/> bytes gets an array of its own, as with
/// Kestrel's pool, and it is not retained.
/// </remarks>
public sealed class TransportMemoryPool : MemoryPool<byte>
{
    public const int DefaultBlockSize = 64 * 1024;
    public const int DefaultMaxRetained = 64;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;
    private long _allocated;
    private bool _disposed;

    public TransportMemoryPool(int blockSize = DefaultBlockSize, int maxRetained = DefaultMaxRetained)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 4096);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetained);
        BlockSize = blockSize;
        MaxRetained = maxRetained;
    }

    public int BlockSize { get; }

    public int MaxRetained { get; }

    /// <summary>Free blocks kept for reuse now.</summary>
    public int RetainedCount => Volatile.Read(ref _freeCount);

    /// <summary>Blocks of <see cref="BlockSize"/> allocated so far (a reused block is not counted again).</summary>
    public long AllocatedCount => Interlocked.Read(ref _allocated);

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            return new OversizedBlock(GC.AllocateUninitializedArray<byte>(minBufferSize, pinned: true));
        }

        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            return block;
        }

        Interlocked.Increment(ref _allocated);
        return new Block(this, GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true));
    }

    protected override void Dispose(bool disposing)
    {
        Volatile.Write(ref _disposed, true);
        _free.Clear();
    }

    private void Return(Block block)
    {
        if (Volatile.Read(ref _disposed))
        {
            return;
        }

        if (Interlocked.Increment(ref _freeCount) > MaxRetained)
        {
            Interlocked.Decrement(ref _freeCount); // over the bound: this one is left to the GC
            return;
        }

        _free.Enqueue(block);
    }

    /// <summary>A pooled block: the object itself is reused with its array, so renting allocates nothing.</summary>
    private sealed class Block(TransportMemoryPool pool, byte[] array) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = array;

        public void Dispose() => pool.Return(this);
    }

    private sealed class OversizedBlock(byte[] array) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = array;

        public void Dispose()
        {
        }
    }
}

/// <summary>Gives Kestrel's transports and connections a <see cref="TransportMemoryPool"/> each, and remembers them.</summary>
public sealed class TransportMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    private readonly ConcurrentQueue<TransportMemoryPool> _pools = new();

    /// <summary>Every pool handed out (a few per listener).</summary>
    public IReadOnlyCollection<TransportMemoryPool> Pools => _pools;

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        var pool = new TransportMemoryPool();
        _pools.Enqueue(pool);
        return pool;
    }
}
