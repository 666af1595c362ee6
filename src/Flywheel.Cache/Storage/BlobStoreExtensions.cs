using System.Buffers;

namespace Flywheel.Cache.Storage;

public static class BlobStoreExtensions
{
    private const int CopyBufferSize = 128 * 1024;

    /// <summary>Streams <paramref name="content"/> into the store and commits it, verified against <paramref name="expected"/>.</summary>
    public static async Task<BlobCommit> WriteAsync(
        this IBlobStore store, Stream content, BlobDigest? expected, CancellationToken cancellationToken)
    {
        await using var writer = await store.BeginWriteAsync(expected, cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return await writer.CommitAsync(expected, cancellationToken).ConfigureAwait(false);
    }

    public static Task<BlobCommit> WriteAsync(
        this IBlobStore store, ReadOnlyMemory<byte> content, BlobDigest? expected, CancellationToken cancellationToken)
    {
        return WriteBytesAsync(store, content, expected, cancellationToken);

        static async Task<BlobCommit> WriteBytesAsync(IBlobStore store, ReadOnlyMemory<byte> content, BlobDigest? expected, CancellationToken ct)
        {
            await using var writer = await store.BeginWriteAsync(expected, ct).ConfigureAwait(false);
            await writer.WriteAsync(content, ct).ConfigureAwait(false);
            return await writer.CommitAsync(expected, ct).ConfigureAwait(false);
        }
    }
}
