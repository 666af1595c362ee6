using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// A write to a unique temporary file, hashed as the bytes pass. Commit verifies, then links the file to its final
/// name without overwriting and queues it for the next background fsync round (<see cref="GroupSync"/>); disposing
/// without a commit deletes the temporary file.
/// </summary>
/// <remarks>
/// Writes go to the file handle with pwrite(2) at our own offset (no FileStream: asking one for its handle, which
/// <see cref="WriteBehind"/> needs, makes it re-check the OS file position on every later call). Pieces smaller
/// than <see cref="DiskBlobStore.WriteBufferSize"/> are gathered in one pooled buffer first; larger ones go
/// straight to the file. Writeback of what is written starts every <see cref="WriteBehind.Interval"/> bytes.
/// Past <see cref="FollowFrom"/> bytes the hash moves to a <see cref="FileHashFollower"/>, which reads the file
/// back on another core; the file's writeback then overlaps the end of the hash. Nothing becomes visible before the
/// hash is complete and matches.
/// </remarks>
internal sealed class DiskBlobWriter : IBlobWriter
{
    /// <summary>Blobs up to this size are hashed inline: starting a follower costs more than hashing them.</summary>
    internal const long FollowFrom = 1024 * 1024;

    private readonly DiskBlobStore _store;
    private readonly BlobDigest? _hint;
    private readonly string _temporaryPath;
    private readonly SafeFileHandle _file;
    private byte[]? _buffer;
    private int _buffered;
    private long _written;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private bool _finished;
    private long _writeBehindFrom;
    private bool _writeBehind = true;
    private FileHashFollower? _follower;

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

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        cancellationToken.ThrowIfCancellationRequested();
        var span = data.Span;
        if (_follower is null)
        {
            _hash.AppendData(span);
            if (Length + span.Length >= FollowFrom)
            {
                _follower = new FileHashFollower(_file, _hash, Length + span.Length);
                _follower.Start();
            }
        }

        Length += span.Length;
        if (_buffered > 0 || span.Length < DiskBlobStore.WriteBufferSize)
        {
            _buffer ??= ArrayPool<byte>.Shared.Rent(DiskBlobStore.WriteBufferSize);
            var taken = Math.Min(span.Length, DiskBlobStore.WriteBufferSize - _buffered);
            span[..taken].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += taken;
            span = span[taken..];
            if (_buffered < DiskBlobStore.WriteBufferSize)
            {
                return ValueTask.CompletedTask;
            }

            FlushBuffer();
        }

        if (span.Length >= DiskBlobStore.WriteBufferSize)
        {
            WriteToFile(span);
        }
        else if (span.Length > 0)
        {
            span.CopyTo(_buffer);
            _buffered = span.Length;
        }

        return ValueTask.CompletedTask;
    }

    public async Task<BlobCommit> CommitAsync(BlobDigest? expected, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        try
        {
            FlushBuffer();
            var writebackStarted = false;
            if (_follower is { } follower)
            {
                // Writeback of the whole file starts while the follower finishes the hash; the fsync of the round
                // then mostly finds it on disk. The name is not taken before the hash matches.
                var hashing = follower.CompleteAsync(_written);
                writebackStarted = WriteBehind.Start(_file, 0, 0);
                await hashing.ConfigureAwait(false);
                _follower = null;
            }

            var actual = FinishHash();
            if (expected is { } want && want != actual)
            {
                throw new CacheException(
                    CacheError.Invalid, $"digest mismatch: expected {want.ToHex()}, got {actual.ToHex()} ({Length} bytes)");
            }

            if (_hint is { } hint && hint != actual)
            {
                throw new CacheException(
                    CacheError.Invalid, $"digest mismatch: the write began as {hint.ToHex()}, got {actual.ToHex()} ({Length} bytes)");
            }

            var size = Length;
            if (actual == BlobDigest.Empty)
            {
                return new BlobCommit(actual, 0, AlreadyExisted: true);
            }

            var finalPath = _store.GetPath(actual);
            if (_store.HoldsIntact(finalPath, actual, size))
            {
                return new BlobCommit(actual, size, AlreadyExisted: true);
            }

            // Linked now, fsynced in the next background round (GroupSync); its writeback starts here.
            var published = MoveIntoPlace(actual, finalPath);
            if (published)
            {
                if (!writebackStarted)
                {
                    WriteBehind.Start(_file, 0, 0);
                }

                _store.Sync.Enqueue(finalPath, size);
                if (!_store.DefersSync)
                {
                    await _store.Sync.FlushAsync().ConfigureAwait(false);
                }
            }

            return new BlobCommit(actual, size, AlreadyExisted: !published);
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
                _store.Sync.SyncRoot(); // the new shard's name is as durable as the blob's
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

    /// <summary>
    /// pwrite(2) at the end of what is written, then every <see cref="WriteBehind.Interval"/> bytes a writeback hint.
    /// Synchronous on purpose: Linux has no asynchronous file writes, so an asynchronous write queues the same
    /// blocking pwrite to a thread-pool thread and the caller's continuation back again, two hops per buffer. A write
    /// to the page cache takes microseconds; when the kernel throttles a writer, the thread waits either way.
    /// </summary>
    private void WriteToFile(ReadOnlySpan<byte> bytes)
    {
        RandomAccess.Write(_file, bytes, _written);
        _written += bytes.Length;
        _follower?.Advance(_written);
        if (_writeBehind && _written - _writeBehindFrom >= WriteBehind.Interval)
        {
            _writeBehind = WriteBehind.Start(_file, _writeBehindFrom, _written - _writeBehindFrom);
            _writeBehindFrom = _written;
        }
    }

    private void FlushBuffer()
    {
        if (_buffered > 0)
        {
            WriteToFile(_buffer.AsSpan(0, _buffered));
            _buffered = 0;
        }
    }

    private async ValueTask DiscardAsync()
    {
        if (_follower is { } follower)
        {
            _follower = null;
            await follower.AbandonAsync().ConfigureAwait(false);
        }

        _file.Dispose();
        PooledArrays.Return(ref _buffer);

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

    private static SafeFileHandle Open(string path) =>
        File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None); // read: the hash follower
}
