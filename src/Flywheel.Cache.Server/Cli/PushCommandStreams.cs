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
/// the compressor writes straight into one pooled buffer of <see cref="MemoryLimit"/> bytes, which moves to a
/// temporary file (deleted on dispose) whenever it fills, so memory stays at about one compressor and one buffer
/// whatever the size, and a small NAR costs no allocation of its own. The compressed file must be complete before it
/// is sent because its URL, <c>nar/&lt;FileHash&gt;.nar.zst</c>, names the hash of all its bytes. The NAR must be
/// the <paramref name="narSize"/> bytes the local store recorded (the compressor is told that size in advance).
/// </summary>
internal sealed class PushSpool(ICompressor compressor, long narSize, Action<long> progress) : PushNarStream(progress), IBufferWriter<byte>
{
    public const int MemoryLimit = 1 << 20;

    /// <summary>The least room the compressor is offered (it asks for 64 KiB; less would split its output).</summary>
    private const int MinimumSpan = 64 * 1024;

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(MemoryLimit);
    private int _used;
    private FileStream? _file;

    public long FileSize { get; private set; }

    protected override void Accept(ReadOnlySpan<byte> nar)
    {
        if (NarBytes > narSize)
        {
            throw new IOException($"the NAR is larger than the {narSize} bytes the local store recorded (did the store path change?)");
        }

        compressor.Compress(nar, this);
    }

    /// <summary>Ends the compressed stream; returns its FileHash.</summary>
    public BlobDigest Complete()
    {
        if (NarBytes != narSize)
        {
            throw new IOException($"the NAR has {NarBytes} bytes, the local store recorded {narSize} (did the store path change?)");
        }

        compressor.Finish(this);
        Span<byte> digest = stackalloc byte[BlobDigest.ByteLength];
        _hash.GetHashAndReset(digest);
        return BlobDigest.FromBytes(digest);
    }

    /// <summary>The request body: the kept bytes from their start.</summary>
    public HttpContent Content()
    {
        if (_file is null)
        {
            return new ReadOnlyMemoryContent(_buffer.AsMemory(0, _used));
        }

        Spill();
        _file.Position = 0;
        return new StreamContent(_file, 128 * 1024); // disposing it closes (and deletes) the file, as Dispose would
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (_buffer.Length - _used < Math.Max(sizeHint, MinimumSpan))
        {
            Spill();
        }

        return _buffer.AsMemory(_used);
    }

    public void Advance(int count)
    {
        _hash.AppendData(_buffer.AsSpan(_used, count));
        _used += count;
        FileSize += count;
    }

    private void Spill()
    {
        _file ??= new FileStream(
            Path.Combine(Path.GetTempPath(), "flywheel-push-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.ReadWrite,
            FileShare.None, 0, FileOptions.DeleteOnClose);
        _file.Write(_buffer.AsSpan(0, _used));
        _used = 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            _file?.Dispose();
            compressor.Dispose();
            if (_buffer is { } buffer)
            {
                _buffer = null;
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        base.Dispose(disposing);
    }
}
