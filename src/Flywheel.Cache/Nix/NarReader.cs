using System.Buffers.Binary;
using System.Text;

namespace Flywheel.Cache.Nix;

/// <summary>What a NAR holds at one path (relative to the archive root, <c>""</c> for the root, '/'-separated).</summary>
public enum NarNodeType
{
    Regular,
    Directory,
    Symlink,
}

/// <summary>One node of a NAR as the reader meets it.</summary>
/// <param name="Size">Bytes of a regular file's contents; 0 otherwise.</param>
public readonly record struct NarNode(string Path, NarNodeType Type, long Size, bool Executable, string? Target);

/// <summary>
/// Reads a NAR (Nix archive) from a stream front to back, in its canonical order (directory entries sorted by
/// name), without buffering file contents: each regular file's contents is offered to the visitor as a stream of
/// exactly its bytes, and whatever the visitor leaves unread is skipped. Malformed archives are
/// <see cref="CacheError.Invalid"/>.
/// </summary>
public sealed class NarReader
{
    private const int MaxTokenLength = NarFormat.MaxTokenLength;
    private const int MaxDepth = NarFormat.MaxDepth;

    private readonly Stream _stream;
    private readonly byte[] _scratch = new byte[8];

    private NarReader(Stream stream)
    {
        _stream = stream;
    }

    /// <summary>
    /// Walks the NAR in <paramref name="stream"/>, calling <paramref name="visit"/> for every node; for a regular file
    /// the second argument is its contents (valid during the call only), null for other nodes.
    /// </summary>
    public static Task ReadAsync(Stream stream, Func<NarNode, Stream?, CancellationToken, ValueTask> visit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(visit);
        return new NarReader(stream).RunAsync(visit, cancellationToken);
    }

    private async Task RunAsync(Func<NarNode, Stream?, CancellationToken, ValueTask> visit, CancellationToken ct)
    {
        await ExpectAsync("nix-archive-1", ct).ConfigureAwait(false);
        await ReadNodeAsync("", 0, visit, ct).ConfigureAwait(false);
    }

    private async Task ReadNodeAsync(string path, int depth, Func<NarNode, Stream?, CancellationToken, ValueTask> visit, CancellationToken ct)
    {
        if (depth > MaxDepth)
        {
            throw Malformed($"directories nested deeper than {MaxDepth}");
        }

        await ExpectAsync("(", ct).ConfigureAwait(false);
        await ExpectAsync("type", ct).ConfigureAwait(false);
        var type = await ReadStringAsync(ct).ConfigureAwait(false);
        switch (type)
        {
            case "regular":
                var executable = false;
                var tag = await ReadStringAsync(ct).ConfigureAwait(false);
                if (tag == "executable")
                {
                    executable = true;
                    await ExpectAsync("", ct).ConfigureAwait(false);
                    tag = await ReadStringAsync(ct).ConfigureAwait(false);
                }

                if (tag != "contents")
                {
                    throw Malformed($"expected 'contents' at '{path}', found '{tag}'");
                }

                var size = await ReadLengthAsync(ct).ConfigureAwait(false);
                var contents = new NarContentStream(_stream, size);
                await visit(new NarNode(path, NarNodeType.Regular, size, executable, null), contents, ct).ConfigureAwait(false);
                await contents.SkipRestAsync(ct).ConfigureAwait(false);
                await SkipPaddingAsync(size, ct).ConfigureAwait(false);
                await ExpectAsync(")", ct).ConfigureAwait(false);
                break;

            case "symlink":
                await ExpectAsync("target", ct).ConfigureAwait(false);
                var target = await ReadStringAsync(ct).ConfigureAwait(false);
                await visit(new NarNode(path, NarNodeType.Symlink, 0, false, target), null, ct).ConfigureAwait(false);
                await ExpectAsync(")", ct).ConfigureAwait(false);
                break;

            case "directory":
                await visit(new NarNode(path, NarNodeType.Directory, 0, false, null), null, ct).ConfigureAwait(false);
                string? previous = null;
                while (true)
                {
                    var token = await ReadStringAsync(ct).ConfigureAwait(false);
                    if (token == ")")
                    {
                        break;
                    }

                    if (token != "entry")
                    {
                        throw Malformed($"expected 'entry' or ')' in directory '{path}', found '{token}'");
                    }

                    await ExpectAsync("(", ct).ConfigureAwait(false);
                    await ExpectAsync("name", ct).ConfigureAwait(false);
                    var name = await ReadStringAsync(ct).ConfigureAwait(false);
                    if (!NarFormat.IsValidEntryName(Encoding.UTF8.GetBytes(name)))
                    {
                        throw Malformed($"invalid entry name '{name}' in directory '{path}'");
                    }

                    if (previous is not null && string.CompareOrdinal(previous, name) >= 0)
                    {
                        throw Malformed($"entries of directory '{path}' are not sorted ('{previous}' before '{name}')");
                    }

                    previous = name;
                    await ExpectAsync("node", ct).ConfigureAwait(false);
                    await ReadNodeAsync(path.Length == 0 ? name : path + "/" + name, depth + 1, visit, ct).ConfigureAwait(false);
                    await ExpectAsync(")", ct).ConfigureAwait(false);
                }

                break;

            default:
                throw Malformed($"unknown node type '{type}' at '{path}'");
        }
    }

    private async ValueTask ExpectAsync(string expected, CancellationToken ct)
    {
        var found = await ReadStringAsync(ct).ConfigureAwait(false);
        if (found != expected)
        {
            throw Malformed($"expected '{expected}', found '{(found.Length > 40 ? found[..40] + "…" : found)}'");
        }
    }

    private async ValueTask<string> ReadStringAsync(CancellationToken ct)
    {
        var length = await ReadLengthAsync(ct).ConfigureAwait(false);
        if (length > MaxTokenLength)
        {
            throw Malformed($"a name or token of {length} bytes (at most {MaxTokenLength})");
        }

        var bytes = new byte[length];
        await ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        await SkipPaddingAsync(length, ct).ConfigureAwait(false);
        return Encoding.UTF8.GetString(bytes);
    }

    private async ValueTask<long> ReadLengthAsync(CancellationToken ct)
    {
        await ReadExactlyAsync(_scratch, ct).ConfigureAwait(false);
        var value = BinaryPrimitives.ReadUInt64LittleEndian(_scratch);
        return value > long.MaxValue ? throw Malformed("a length beyond 2^63") : (long)value;
    }

    private async ValueTask SkipPaddingAsync(long length, CancellationToken ct)
    {
        var padding = (int)((8 - (length % 8)) % 8);
        if (padding > 0)
        {
            await ReadExactlyAsync(_scratch.AsMemory(0, padding), ct).ConfigureAwait(false);
            for (var i = 0; i < padding; i++)
            {
                if (_scratch[i] != 0)
                {
                    throw Malformed("non-zero padding");
                }
            }
        }
    }

    private async ValueTask ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        try
        {
            await _stream.ReadExactlyAsync(buffer, ct).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            throw Malformed("it ends early");
        }
    }

    private static CacheException Malformed(string problem) => NarFormat.Malformed(problem);

    /// <summary>Exactly the next <c>size</c> bytes of the archive: one regular file's contents.</summary>
    private sealed class NarContentStream(Stream inner, long size) : Stream
    {
        private readonly long _size = size;
        private long _remaining = size;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _size;
        public override long Position { get => _size - _remaining; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_remaining == 0 || buffer.IsEmpty)
            {
                return 0;
            }

            var read = inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
            if (read == 0)
            {
                throw Malformed("a file's contents end early");
            }

            _remaining -= read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_remaining == 0 || buffer.IsEmpty)
            {
                return 0;
            }

            var read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw Malformed("a file's contents end early");
            }

            _remaining -= read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public async ValueTask SkipRestAsync(CancellationToken ct)
        {
            if (_remaining == 0)
            {
                return;
            }

            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                while (await ReadAsync(buffer, ct).ConfigureAwait(false) > 0)
                {
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
