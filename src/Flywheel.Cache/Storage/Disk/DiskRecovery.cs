using System.Security.Cryptography;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>A blob whose index rows were dropped at start because its bytes did not survive the previous stop.</summary>
public sealed record DroppedBlob(BlobDigest Digest, long Size, DateTimeOffset CreatedAt, string Reason, int RowsRemoved);

/// <summary>What the check after an unclean stop found: how many blobs it read back, and which it dropped.</summary>
public sealed record DiskRecoveryReport(bool Needed, DateTimeOffset? Since, int Checked, IReadOnlyList<DroppedBlob> Dropped)
{
    public static readonly DiskRecoveryReport NotNeeded = new(false, null, 0, []);
}

/// <summary>
/// The check a disk store needs before serving after an unclean stop (killed, or a machine crash): the index may
/// name blobs linked after the last durable horizon whose bytes never reached the disk. Every blob the index recorded
/// since the horizon (less <see cref="DurableHorizon.ClockMargin"/>) is read back: a blob that is missing, short or
/// holds other bytes loses every row that names it (narinfos, NAR and cache file records, cache ownership: see
/// <see cref="IRecoveryIndex.ForgetBlobAsync"/>) and its file; the blobs that check out are synced. After a clean
/// stop there is nothing to check. Hashing is bounded by what one sync interval published (plus the margin).
/// </summary>
public static class DiskRecovery
{
    private const int ReadBufferSize = 256 * 1024;

    public static async Task<DiskRecoveryReport> RunAsync(DiskBlobStore store, IRecoveryIndex index, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(index);
        if (store.Horizon.UncheckedSince is not { } since)
        {
            return DiskRecoveryReport.NotNeeded;
        }

        var recent = await index.ListBlobsCreatedSinceAsync(since, cancellationToken).ConfigureAwait(false);
        var dropped = new List<DroppedBlob>();
        foreach (var blob in recent)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (blob.Digest == BlobDigest.Empty)
            {
                continue;
            }

            var path = store.GetPath(blob.Digest);
            if (Verify(path, blob.Digest, blob.Size) is { } reason)
            {
                // Rows first, then the file: a crash in between leaves an unnamed file, never a row without bytes.
                var rows = await index.ForgetBlobAsync(blob.Digest, cancellationToken).ConfigureAwait(false);
                File.Delete(path);
                dropped.Add(new DroppedBlob(blob.Digest, blob.Size, blob.CreatedAt, reason, rows));
            }
            else
            {
                store.Sync.Enqueue(path, blob.Size); // intact in the page cache; durable before the horizon moves on
            }
        }

        store.Horizon.MarkChecked();
        await store.Sync.FlushAsync().ConfigureAwait(false);
        return new DiskRecoveryReport(true, since, recent.Count, dropped);
    }

    /// <summary>Null when the file holds exactly the blob; else why not (missing, its size, other bytes).</summary>
    internal static string? Verify(string path, BlobDigest digest, long size)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, ReadBufferSize, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException)
        {
            return "missing";
        }
        catch (DirectoryNotFoundException)
        {
            return "missing";
        }

        using (file)
        {
            if (file.Length != size)
            {
                return $"{file.Length} bytes on disk, {size} recorded";
            }

            Span<byte> hash = stackalloc byte[BlobDigest.ByteLength];
            SHA256.HashData(file, hash);
            var actual = BlobDigest.FromBytes(hash);
            return actual == digest ? null : $"its {size} bytes hash to {actual.ToHex()}";
        }
    }
}
