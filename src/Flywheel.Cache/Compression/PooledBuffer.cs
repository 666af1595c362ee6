using System.Buffers;

namespace Flywheel.Cache.Compression;

/// <summary>The output buffer a decompressor reuses for every chunk, rented from the shared pool.</summary>
internal struct PooledBuffer
{
    public const int Size = 64 * 1024;

    private byte[]? _array;

    public static PooledBuffer Rent() => new() { _array = ArrayPool<byte>.Shared.Rent(Size) };

    public readonly byte[] Array => _array ?? throw new ObjectDisposedException("decompressor");

    public void Return()
    {
        if (_array is not null)
        {
            ArrayPool<byte>.Shared.Return(_array);
            _array = null;
        }
    }
}
