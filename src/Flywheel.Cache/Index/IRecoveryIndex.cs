using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>
/// What a disk store's check after an unclean stop asks of the index (<see cref="Storage.Disk.DiskRecovery"/>):
/// the blobs recorded since a time, and dropping every row that names a blob whose bytes did not survive.
/// </summary>
public interface IRecoveryIndex
{
    /// <summary>The blobs first recorded at or after <paramref name="since"/>, oldest first (an index on created_at).</summary>
    Task<IReadOnlyList<RecordedBlob>> ListBlobsCreatedSinceAsync(DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>
    /// Removes, in one transaction, every row that names the blob: narinfos and NAR file records with it as FileHash,
    /// cache files stored in it, every cache's ownership of it (action results that reference it are then no longer
    /// served: they need every blob owned), and its blob record. Returns how many rows went.
    /// </summary>
    Task<int> ForgetBlobAsync(BlobDigest digest, CancellationToken cancellationToken);
}

/// <summary>A blob record: digest, size and when the index first recorded it.</summary>
public sealed record RecordedBlob(BlobDigest Digest, long Size, DateTimeOffset CreatedAt);
