using System.Runtime.CompilerServices;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// Blobs as files on a local disk: <c>&lt;root&gt;/&lt;2 hex&gt;/&lt;64 hex&gt;</c>, writes in progress under
/// <c>&lt;root&gt;/.tmp/</c>. A blob appears at its final name only by an atomic link of a fully written and verified
/// temporary file, so no reader ever sees a partial blob. A commit returns once the blob is linked; its fsyncs run in
/// the background rounds of <see cref="GroupSync"/>, which record how far the store is durable
/// (<see cref="DurableHorizon"/>). After a machine crash, <see cref="DiskRecovery"/> drops the index rows of blobs
/// linked after that horizon whose bytes did not survive, before anything is served (README, "Durability").
/// The empty blob exists by definition and has no file.
/// </summary>
public sealed class DiskBlobStore : IBlobStore, IAsyncDisposable
{
    /// <summary>Temporary files untouched for this long belong to dead writes and are swept at start.</summary>
    public static readonly TimeSpan DefaultStaleTemporaryAge = TimeSpan.FromHours(1);

    /// <summary>
    /// A blob file found at its name after an unclean stop is verified when it was written this close to (or after)
    /// the horizon: its last write precedes its link by the end of its hash at most.
    /// </summary>
    private static readonly TimeSpan SuspectWriteMargin = TimeSpan.FromMinutes(1);

    internal const string TemporaryDirectoryName = ".tmp";
    internal const int WriteBufferSize = 64 * 1024;

    private readonly TimeProvider _time;
    private int _disposed;

    public DiskBlobStore(string root, TimeProvider? time = null, DiskSyncOptions? sync = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = Path.GetFullPath(root);
        TemporaryDirectory = Path.Combine(Root, TemporaryDirectoryName);
        _time = time ?? TimeProvider.System;
        Directory.CreateDirectory(TemporaryDirectory);
        CleanStaleTemporaryFiles(DefaultStaleTemporaryAge);
        Horizon = DurableHorizon.Open(Root, _time.GetUtcNow());
        Sync = new GroupSync(Root, sync ?? DiskSyncOptions.Default, _time, Horizon);
    }

    /// <summary>The absolute root directory.</summary>
    public string Root { get; }

    internal string TemporaryDirectory { get; }

    /// <summary>The background fsync rounds new blobs share (group commit).</summary>
    internal GroupSync Sync { get; }

    /// <summary>
    /// A background fsync round failed (its first error, how many blobs it held): from then on the durable-through
    /// horizon stays where it was, so the next start reads back everything recorded since.
    /// </summary>
    public event Action<Exception, int>? SyncFailed
    {
        add => Sync.RoundFailed += value;
        remove => Sync.RoundFailed -= value;
    }

    /// <summary>How far the store is durable, and whether the previous stop left something to check.</summary>
    internal DurableHorizon Horizon { get; }

    /// <summary>
    /// True when commits return before their fsyncs (this process owns the horizon). A store next to a running
    /// daemon on the same folder (the CLI) waits for its round instead.
    /// </summary>
    internal bool DefersSync => Horizon.Owner;

    /// <summary>Completes once every blob committed so far is durable.</summary>
    public Task FlushAsync() => Sync.FlushAsync();

    /// <summary>
    /// A final round, then the clean-stop marker (unless a check after an unclean stop is still pending, or the round
    /// or the marker failed: then the next start checks what was published since the horizon, as after a crash).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var synced = true;
        try
        {
            await Sync.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            synced = false; // no clean marker: the next start checks what was published since the horizon
        }

        Horizon.Close(_time.GetUtcNow(), synced && !Sync.Failed);
    }

    /// <summary>Lets go of the horizon's lock without a final round or marker, as a killed process would (crash tests).</summary>
    internal void Abandon()
    {
        Interlocked.Exchange(ref _disposed, 1);
        Horizon.Dispose();
    }

    /// <summary>
    /// Whether a blob file is at its name and can be trusted to hold <paramref name="digest"/>: always, unless the
    /// previous stop was unclean and the file was written after that horizon (less its margin); such a file is read
    /// back, and one that is short or holds other bytes is deleted (false).
    /// </summary>
    internal bool HoldsIntact(string path, BlobDigest digest, long size)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return false;
        }

        if (Horizon.SuspectSince is not { } since || info.LastWriteTimeUtc < (since - SuspectWriteMargin).UtcDateTime)
        {
            return true;
        }

        if (DiskRecovery.Verify(path, digest, size) is null)
        {
            return true;
        }

        File.Delete(path);
        return false;
    }

    /// <summary>The file a blob is (or would be) stored in.</summary>
    public string GetPath(BlobDigest digest) =>
        string.Create(Root.Length + 4 + BlobDigest.HexLength, (Root, digest), static (span, state) =>
        {
            var (root, d) = state;
            root.CopyTo(span);
            span = span[root.Length..];
            var hex = span[4..];
            d.WriteHex(hex);
            span[0] = '/';
            span[1] = hex[0];
            span[2] = hex[1];
            span[3] = '/';
        });

    internal string GetShardDirectory(BlobDigest digest)
    {
        Span<char> hex = stackalloc char[BlobDigest.HexLength];
        digest.WriteHex(hex);
        return string.Concat(Root, "/", hex[..2]);
    }

    /// <summary>
    /// Deletes temporary files not written to for <paramref name="olderThan"/> (left by crashed or abandoned
    /// writes); returns how many were deleted. Safe while other writes are in progress if the age is generous.
    /// </summary>
    public Task<int> SweepIncompleteWritesAsync(TimeSpan olderThan, CancellationToken cancellationToken) =>
        Task.FromResult(CleanStaleTemporaryFiles(olderThan));

    public int CleanStaleTemporaryFiles(TimeSpan olderThan)
    {
        var cutoff = _time.GetUtcNow().UtcDateTime - olderThan;
        var deleted = 0;
        if (!Directory.Exists(TemporaryDirectory))
        {
            return 0;
        }

        foreach (var file in new DirectoryInfo(TemporaryDirectory).EnumerateFiles())
        {
            try
            {
                if (file.LastWriteTimeUtc < cutoff)
                {
                    file.Delete();
                    deleted++;
                }
            }
            catch (IOException)
            {
                // gone already or in use; the next sweep gets it
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return deleted;
    }

    /// <summary>Starts a write to a temporary file. The hint is not needed (the rename picks the name), but it is binding.</summary>
    public ValueTask<IBlobWriter> BeginWriteAsync(BlobDigest? expected, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IBlobWriter>(new DiskBlobWriter(this, expected));
    }

    public Task<BlobHandle?> OpenAsync(BlobDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (digest == BlobDigest.Empty)
        {
            return Task.FromResult<BlobHandle?>(DiskBlobHandle.Empty);
        }

        var info = new FileInfo(GetPath(digest));
        return Task.FromResult<BlobHandle?>(info.Exists ? new DiskBlobHandle(digest, info.Length, info.FullName) : null);
    }

    public Task<IReadOnlyList<BlobDigest>> FindMissingAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        List<BlobDigest>? missing = null;
        HashSet<BlobDigest>? seen = null;
        foreach (var digest in digests)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (digest == BlobDigest.Empty || File.Exists(GetPath(digest)))
            {
                continue;
            }

            seen ??= [];
            if (seen.Add(digest))
            {
                (missing ??= []).Add(digest);
            }
        }

        return Task.FromResult<IReadOnlyList<BlobDigest>>(missing ?? (IReadOnlyList<BlobDigest>)[]);
    }

    public Task<bool> DeleteAsync(BlobDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (digest == BlobDigest.Empty)
        {
            return Task.FromResult(false);
        }

        var info = new FileInfo(GetPath(digest));
        if (!info.Exists)
        {
            return Task.FromResult(false);
        }

        info.Delete();
        return Task.FromResult(true);
    }

    public async IAsyncEnumerable<StoredBlob> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var shard in new DirectoryInfo(Root).EnumerateDirectories())
        {
            if (shard.Name.Length != 2 || shard.Name == TemporaryDirectoryName)
            {
                continue;
            }

            foreach (var file in shard.EnumerateFiles())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!BlobDigest.TryParseHex(file.Name, out var digest) ||
                    !file.Name.AsSpan(0, 2).Equals(shard.Name, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                yield return new StoredBlob(digest, file.Length, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero));
            }
        }
    }

    public Task CheckHealthAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!Directory.Exists(Root))
        {
            throw new CacheException(CacheError.Unavailable, $"blob store directory '{Root}' does not exist");
        }

        var probe = Path.Combine(TemporaryDirectory, "health-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(TemporaryDirectory);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CacheException(CacheError.Unavailable, $"blob store directory '{Root}' is not writable: {e.Message}", e);
        }

        return Task.CompletedTask;
    }
}
