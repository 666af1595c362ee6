using System.Buffers;
using System.Globalization;
using System.Text;

namespace Flywheel.Cache.Promotion.FlakeHub;

/// <summary>
/// Writes a POSIX (ustar, with pax headers for long names and link targets) tar stream entry by entry, file contents
/// copied from streams of known length: nothing is held in memory beyond a block. Modes are 0644/0755 directories and
/// executables, owner 0, and one fixed time, so the same content gives the same bytes.
/// </summary>
internal sealed class TarballWriter(Stream output, DateTimeOffset time)
{
    private const int Block = 512;
    private readonly long _mtime = Math.Max(0, time.ToUnixTimeSeconds());

    public Task DirectoryAsync(string path, CancellationToken ct) => HeaderAsync(path + "/", '5', 0, 0x1ED, null, ct);

    public Task SymlinkAsync(string path, string target, CancellationToken ct) => HeaderAsync(path, '2', 0, 0x1FF, target, ct);

    public async Task FileAsync(string path, long size, bool executable, Stream contents, CancellationToken ct)
    {
        await HeaderAsync(path, '0', size, executable ? 0x1ED : 0x1A4, null, ct).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long left = size;
            while (left > 0)
            {
                var read = await contents.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    throw CacheException.Invalid($"'{path}' ended {left} bytes early");
                }

                await output.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        await PadAsync(size, ct).ConfigureAwait(false);
    }

    /// <summary>The two zero blocks that end an archive.</summary>
    public Task FinishAsync(CancellationToken ct) => output.WriteAsync(new byte[Block * 2], ct).AsTask();

    private async Task HeaderAsync(string name, char type, long size, int mode, string? link, CancellationToken ct)
    {
        if (Encoding.UTF8.GetByteCount(name) > 100 || (link is not null && Encoding.UTF8.GetByteCount(link) > 100))
        {
            var records = new StringBuilder();
            records.Append(PaxRecord("path", name));
            if (link is not null)
            {
                records.Append(PaxRecord("linkpath", link));
            }

            var pax = Encoding.UTF8.GetBytes(records.ToString());
            await output.WriteAsync(Header("PaxHeader", 'x', pax.Length, 0x1A4, null), ct).ConfigureAwait(false);
            await output.WriteAsync(pax, ct).ConfigureAwait(false);
            await PadAsync(pax.Length, ct).ConfigureAwait(false);
        }

        await output.WriteAsync(Header(name, type, size, mode, link), ct).ConfigureAwait(false);
    }

    private byte[] Header(string name, char type, long size, int mode, string? link)
    {
        var header = new byte[Block];
        Put(header, 0, 100, name);
        Octal(header, 100, 8, mode);
        Octal(header, 108, 8, 0);
        Octal(header, 116, 8, 0);
        Octal(header, 124, 12, size);
        Octal(header, 136, 12, _mtime);
        header.AsSpan(148, 8).Fill((byte)' ');
        header[156] = (byte)type;
        if (link is not null)
        {
            Put(header, 157, 100, link);
        }

        Put(header, 257, 6, "ustar");
        Put(header, 263, 2, "00");
        var sum = 0;
        foreach (var b in header)
        {
            sum += b;
        }

        Octal(header, 148, 7, sum);
        return header;
    }

    private async Task PadAsync(long size, CancellationToken ct)
    {
        var padding = (int)((Block - (size % Block)) % Block);
        if (padding > 0)
        {
            await output.WriteAsync(new byte[padding], ct).ConfigureAwait(false);
        }
    }

    private static void Put(byte[] header, int offset, int length, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        bytes.AsSpan(0, Math.Min(bytes.Length, length)).CopyTo(header.AsSpan(offset, length));
    }

    private static void Octal(byte[] header, int offset, int length, long value) =>
        Put(header, offset, length - 1, Convert.ToString(value, 8).PadLeft(length - 1, '0'));

    private static string PaxRecord(string key, string value)
    {
        // "<length> <key>=<value>\n", where the length counts itself.
        var body = $" {key}={value}\n";
        var bodyLength = Encoding.UTF8.GetByteCount(body);
        var length = bodyLength + 1;
        while (length != bodyLength + length.ToString(CultureInfo.InvariantCulture).Length)
        {
            length = bodyLength + length.ToString(CultureInfo.InvariantCulture).Length;
        }

        return length.ToString(CultureInfo.InvariantCulture) + body;
    }
}
