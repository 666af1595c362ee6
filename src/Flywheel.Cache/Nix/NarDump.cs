using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Flywheel.Cache.Nix;

/// <summary>
/// Serializes a file system path as a NAR, byte for byte what <c>nix-store --dump</c> writes, streamed into the output
/// with one pooled buffer (no whole file in memory): regular files (<c>executable</c> when the owner may execute),
/// symlinks (their target, not followed) and directories (entries sorted by the bytes of their names). In process,
/// because a <c>nix-store --dump</c> per path costs about 95 ms of CPU to start, more than the NAR of most paths.
/// </summary>
public static class NarDump
{
    private const int BufferSize = 128 * 1024;

    public static async Task WriteAsync(string path, Stream output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var writer = new Writer(output, buffer);
            await writer.StringAsync("nix-archive-1", cancellationToken);
            await writer.NodeAsync(Info(path), cancellationToken);
            await writer.FlushAsync(cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static FileSystemInfo Info(string path) =>
        Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null ? new DirectoryInfo(path) : new FileInfo(path);

    private static int CompareUtf8(string a, string b)
    {
        Span<byte> x = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(a.Length, 256))];
        Span<byte> y = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(b.Length, 256))];
        if (a.Length > 256 || b.Length > 256)
        {
            return Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b));
        }

        return x[..Encoding.UTF8.GetBytes(a, x)].SequenceCompareTo(y[..Encoding.UTF8.GetBytes(b, y)]);
    }

    /// <summary>NAR tokens into a buffer that goes to the output when full: strings are length, bytes, zero padding to 8.</summary>
    private sealed class Writer(Stream output, byte[] buffer)
    {
        private int _used;

        public async Task NodeAsync(FileSystemInfo node, CancellationToken cancellationToken)
        {
            await StringAsync("(", cancellationToken);
            await StringAsync("type", cancellationToken);
            if (node.LinkTarget is { } target)
            {
                await StringAsync("symlink", cancellationToken);
                await StringAsync("target", cancellationToken);
                await StringAsync(target, cancellationToken);
            }
            else if (node is DirectoryInfo directory)
            {
                await StringAsync("directory", cancellationToken);
                var entries = directory.GetFileSystemInfos();
                Array.Sort(entries, (a, b) => CompareUtf8(a.Name, b.Name));
                foreach (var entry in entries)
                {
                    await StringAsync("entry", cancellationToken);
                    await StringAsync("(", cancellationToken);
                    await StringAsync("name", cancellationToken);
                    await StringAsync(entry.Name, cancellationToken);
                    await StringAsync("node", cancellationToken);
                    await NodeAsync(entry, cancellationToken);
                    await StringAsync(")", cancellationToken);
                }
            }
            else
            {
                await StringAsync("regular", cancellationToken);
                if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(node.FullName) & UnixFileMode.UserExecute) != 0)
                {
                    await StringAsync("executable", cancellationToken);
                    await StringAsync("", cancellationToken);
                }

                await StringAsync("contents", cancellationToken);
                await ContentsAsync(node.FullName, cancellationToken);
            }

            await StringAsync(")", cancellationToken);
        }

        public async Task StringAsync(string text, CancellationToken cancellationToken)
        {
            var length = Encoding.UTF8.GetByteCount(text);
            if (_used + 8 + length + 8 > buffer.Length)
            {
                await FlushAsync(cancellationToken);
            }

            if (8 + length + 8 > buffer.Length)
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                await LengthAsync(bytes.Length, cancellationToken);
                await output.WriteAsync(bytes, cancellationToken);
                await PaddingAsync(bytes.Length, cancellationToken);
                return;
            }

            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(_used), (ulong)length);
            _used += 8;
            _used += Encoding.UTF8.GetBytes(text, buffer.AsSpan(_used));
            var pad = Pad(length);
            buffer.AsSpan(_used, pad).Clear();
            _used += pad;
        }

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_used > 0)
            {
                await output.WriteAsync(buffer.AsMemory(0, _used), cancellationToken);
                _used = 0;
            }
        }

        private async Task ContentsAsync(string file, CancellationToken cancellationToken)
        {
            await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var length = stream.Length;
            await LengthAsync(length, cancellationToken);
            long copied = 0;
            int read;
            await FlushAsync(cancellationToken);
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                copied += read;
                if (copied > length)
                {
                    throw new IOException($"{file} grew while it was read (a store path must not change)");
                }

                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }

            if (copied != length)
            {
                throw new IOException($"{file} shrank while it was read (a store path must not change)");
            }

            await PaddingAsync(length, cancellationToken);
        }

        private async Task LengthAsync(long length, CancellationToken cancellationToken)
        {
            if (_used + 8 > buffer.Length)
            {
                await FlushAsync(cancellationToken);
            }

            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(_used), (ulong)length);
            _used += 8;
        }

        private async Task PaddingAsync(long length, CancellationToken cancellationToken)
        {
            var pad = Pad(length);
            if (_used + pad > buffer.Length)
            {
                await FlushAsync(cancellationToken);
            }

            buffer.AsSpan(_used, pad).Clear();
            _used += pad;
        }

        private static int Pad(long length) => (int)((8 - (length % 8)) % 8);
    }
}
