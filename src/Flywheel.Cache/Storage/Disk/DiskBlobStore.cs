using System.Runtime.CompilerServices;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// Blobs as files on a local disk: <c>&lt;root&gt;/&lt;2 hex&gt;/&lt;64 hex&gt;</c>, writes in progress under
/// <c>&lt;root&gt;/.tmp/</c>. A blob appears at its final name only by an atomic link of a fully written, verified
/// and fsynced temporary file, and its commit returns only once that name is fsynced too (concurrent commits share
/// the fsyncs: <see cref="GroupSync"/>), so a crash never leaves a partial blob visible and an index row written after
/// the commit never names a blob the disk lost.
/// The empty blob exists by definition and has no file.
/// </summary>
public sealed class DiskBlobStore : IBlobStore
{
    /// <summary>Temporary files untouched for this long belong to dead writes and are swept at start.</summary>
    public static readonly TimeSpan DefaultStaleTemporaryAge = TimeSpan.FromHours(1);

    internal const string TemporaryDirectoryName = ".tmp";
    internal const int WriteBufferSize = 64 * 1024;

    private readonly TimeProvider _time;

    public DiskBlobStore(string root, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = Path.GetFullPath(root);
        TemporaryDirectory = Path.Combine(Root, TemporaryDirectoryName);
        _time = time ?? TimeProvider.System;
        Directory.CreateDirectory(TemporaryDirectory);
        CleanStaleTemporaryFiles(DefaultStaleTemporaryAge);
        Sync = new GroupSync(Root);
    }

    /// <summary>The absolute root directory.</summary>
    public string Root { get; }

    internal string TemporaryDirectory { get; }

    /// <summary>The fsync rounds new blobs share (group commit).</summary>
    internal GroupSync Sync { get; }

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
