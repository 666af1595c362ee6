using System.Buffers;
using System.Security.Cryptography;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// Where <see cref="Flywheel.Cache.Nix.NarDump"/> writes a NAR during <c>flywheel push</c>: a write-only stream that counts the NAR bytes
/// for the progress display and passes them on (<see cref="PushPassThrough"/>, uncompressed, straight into the HTTP
/// request) or compresses them (<see cref="PushSpool"/>).
/// </summary>
internal abstract class PushNarStream(Action<long> progress) : Stream
{
    public long NarBytes { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        NarBytes += buffer.Length;
        progress(buffer.Length);
        Accept(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        NarBytes += buffer.Length;
        progress(buffer.Length);
        await AcceptAsync(buffer, cancellationToken);
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected abstract void Accept(ReadOnlySpan<byte> nar);

    protected virtual ValueTask AcceptAsync(ReadOnlyMemory<byte> nar, CancellationToken cancellationToken)
    {
        Accept(nar.Span);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The NAR as it is, into the request body (<c>--compression none</c>: the FileHash is the NarHash, known before).</summary>
internal sealed class PushPassThrough(Stream target, Action<long> progress) : PushNarStream(progress)
{
    protected override void Accept(ReadOnlySpan<byte> nar) => target.Write(nar);

    protected override ValueTask AcceptAsync(ReadOnlyMemory<byte> nar, CancellationToken cancellationToken) => target.WriteAsync(nar, cancellationToken);
}

/// <summary>
/// The NAR compressed, hashed (the FileHash and FileSize the upload's URL and narinfo name) and kept until it is sent:
/// in memory up to <see cref="MemoryLimit"/>, beyond that in a temporary file deleted on dispose, so memory stays at
/// about one compressor and one chunk whatever the size. The compressed file must be complete before it is sent
/// because its URL, <c>nar/&lt;FileHash&gt;.nar.zst</c>, names the hash of all its bytes.
/// </summary>
internal sealed class PushSpool(ICompressor compressor, Action<long> progress) : PushNarStream(progress)
{
    public const int MemoryLimit = 1 << 20;

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly ArrayBufferWriter<byte> _compressed = new(128 * 1024);
    private MemoryStream? _memory = new();
    private FileStream? _file;

    public long FileSize { get; private set; }

    protected override void Accept(ReadOnlySpan<byte> nar)
    {
        compressor.Compress(nar, _compressed);
        Keep();
    }

    /// <summary>Ends the compressed stream; returns its FileHash.</summary>
    public BlobDigest Complete()
    {
        compressor.Finish(_compressed);
        Keep();
        Span<byte> digest = stackalloc byte[BlobDigest.ByteLength];
        _hash.GetHashAndReset(digest);
        return BlobDigest.FromBytes(digest);
    }

    /// <summary>The request body: the kept bytes from their start.</summary>
    public HttpContent Content()
    {
        if (_memory is not null)
        {
            return new ReadOnlyMemoryContent(_memory.GetBuffer().AsMemory(0, (int)_memory.Length));
        }

        _file!.Position = 0;
        return new StreamContent(_file, 128 * 1024); // disposing it closes (and deletes) the file, as Dispose would
    }

    private void Keep()
    {
        var bytes = _compressed.WrittenSpan;
        if (bytes.IsEmpty)
        {
            return;
        }

        _hash.AppendData(bytes);
        FileSize += bytes.Length;
        if (_memory is not null && _memory.Length + bytes.Length > MemoryLimit)
        {
            _file = new FileStream(
                Path.Combine(Path.GetTempPath(), "flywheel-push-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.ReadWrite,
                FileShare.None, 128 * 1024, FileOptions.DeleteOnClose);
            _file.Write(_memory.GetBuffer().AsSpan(0, (int)_memory.Length));
            _memory = null;
        }

        if (_memory is not null)
        {
            _memory.Write(bytes);
        }
        else
        {
            _file!.Write(bytes);
        }

        _compressed.ResetWrittenCount();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            _file?.Dispose();
            compressor.Dispose();
        }

        base.Dispose(disposing);
    }
}
