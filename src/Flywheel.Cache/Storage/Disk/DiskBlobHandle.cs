namespace Flywheel.Cache.Storage.Disk;

/// <summary>A blob file on disk; <see cref="LocalPath"/> lets the server send it with sendfile.</summary>
internal sealed class DiskBlobHandle : BlobHandle
{
    public static readonly DiskBlobHandle Empty = new(BlobDigest.Empty, 0, null);

    private readonly string? _path;

    public DiskBlobHandle(BlobDigest digest, long length, string? path)
        : base(digest, length)
    {
        _path = path;
    }

    public override string? LocalPath => _path;

    public override Task<Stream> OpenReadAsync(long offset, long count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, Length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Length - offset);
        cancellationToken.ThrowIfCancellationRequested();
        if (_path is null || count == 0)
        {
            return Task.FromResult<Stream>(Stream.Null);
        }

        FileStream file;
        try
        {
            // bufferSize 0: readers copy with large buffers of their own; FileStream's would be a second copy.
            file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 0,
                FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (FileNotFoundException e)
        {
            throw new CacheException(CacheError.NotFound, $"blob {Digest} was deleted", e);
        }

        if (offset == 0 && count == Length)
        {
            return Task.FromResult<Stream>(file);
        }

        file.Seek(offset, SeekOrigin.Begin);
        return Task.FromResult<Stream>(new BoundedReadStream(file, count));
    }
}
