using System.Security.Cryptography;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// A write to a unique temporary file, hashed as the bytes pass. Commit verifies, fsyncs and renames the
/// file to its final name without overwriting; disposing without a commit deletes the temporary file.
/// </summary>
internal sealed class DiskBlobWriter : IBlobWriter
{
    private readonly DiskBlobStore _store;
    private readonly BlobDigest? _hint;
    private readonly string _temporaryPath;
    private readonly FileStream _file;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private bool _finished;

    public DiskBlobWriter(DiskBlobStore store, BlobDigest? hint)
    {
        _store = store;
        _hint = hint;
        _temporaryPath = Path.Combine(store.TemporaryDirectory, Guid.NewGuid().ToString("N"));
        try
        {
            _file = Open(_temporaryPath);
        }
        catch (DirectoryNotFoundException)
        {
            Directory.CreateDirectory(store.TemporaryDirectory);
            _file = Open(_temporaryPath);
        }
    }

    public long Length { get; private set; }

    // Synchronous on purpose: Linux has no asynchronous file writes, so FileStream's WriteAsync queues the same
    // blocking pwrite to a thread-pool thread and the caller's continuation back again, two hops per buffer of a
    // blob that arrives in 16-128 KiB pieces. A write to the page cache takes microseconds; when the kernel
    // throttles a writer, the thread waits either way.
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        cancellationToken.ThrowIfCancellationRequested();
        _hash.AppendData(data.Span);
        _file.Write(data.Span);
        Length += data.Length;
        return ValueTask.CompletedTask;
    }

    public async Task<BlobCommit> CommitAsync(BlobDigest? expected, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        try
        {
            _file.Flush();
            var actual = FinishHash();
            if (expected is { } want && want != actual)
            {
                throw new CacheException(
                    CacheError.Invalid, $"digest mismatch: expected {want.ToHex()}, got {actual.ToHex()} ({Length} bytes)");
            }

            if (_hint is { } hinted && hinted != actual)
            {
                throw new CacheException(
                    CacheError.Invalid, $"digest mismatch: the write began as {hinted.ToHex()}, got {actual.ToHex()} ({Length} bytes)");
            }

            var size = Length;
            if (actual == BlobDigest.Empty)
            {
                return new BlobCommit(actual, 0, AlreadyExisted: true);
            }

            var finalPath = _store.GetPath(actual);
            if (File.Exists(finalPath))
            {
                return new BlobCommit(actual, size, AlreadyExisted: true);
            }

            _file.Flush(flushToDisk: true);
            await _file.DisposeAsync().ConfigureAwait(false);
            return new BlobCommit(actual, size, AlreadyExisted: !MoveIntoPlace(actual, finalPath));
        }
        finally
        {
            await DiscardAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _finished = true;
        await DiscardAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Puts the temporary file in place as <paramref name="finalPath"/>; false when a blob was there already.
    /// On Unix this is link(2) then unlink(2): link fails with EEXIST when the name exists, so of several writers
    /// racing with the same bytes exactly one publishes (File.Move without overwrite checks, then renames, and two
    /// racers can both "win"). Where hard links are not available it falls back to File.Move.
    /// </summary>
    private bool MoveIntoPlace(BlobDigest digest, string finalPath)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (!OperatingSystem.IsWindows() && UnixLinks.TryLink(_temporaryPath, finalPath, out var exists))
                {
                    return !exists;
                }

                File.Move(_temporaryPath, finalPath, overwrite: false);
                return true;
            }
            catch (DirectoryNotFoundException) when (attempt == 0)
            {
                Directory.CreateDirectory(_store.GetShardDirectory(digest));
            }
            catch (IOException) when (File.Exists(finalPath))
            {
                return false;
            }
        }
    }

    private BlobDigest FinishHash()
    {
        Span<byte> hash = stackalloc byte[BlobDigest.ByteLength];
        _hash.GetHashAndReset(hash);
        return BlobDigest.FromBytes(hash);
    }

    private async ValueTask DiscardAsync()
    {
        await _file.DisposeAsync().ConfigureAwait(false);
        _hash.Dispose();
        try
        {
            File.Delete(_temporaryPath); // no-op after a successful move
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static FileStream Open(string path) => new(
        path,
        FileMode.CreateNew,
        FileAccess.Write,
        FileShare.None,
        DiskBlobStore.WriteBufferSize,
        FileOptions.SequentialScan);
}
