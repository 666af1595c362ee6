using System.Buffers;
using System.Globalization;
using System.Text;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion;

/// <summary>
/// How a <see cref="TarballWriter"/> dresses its entries: modes, owner names, and whether directory names end in '/'.
/// </summary>
/// <param name="ParentMode">The mode of directories the writer adds itself (the parents of a store path).</param>
public sealed record TarStyle(int DirectoryMode, int FileMode, int ExecutableMode, int ParentMode, string Owner, bool DirectorySlash)
{
    /// <summary>Release tarballs (FlakeHub): 0755 directories and executables, 0644 files, no owner names.</summary>
    public static readonly TarStyle Release = new(0x1ED, 0x1A4, 0x1ED, 0x1ED, "", true);

    /// <summary>
    /// Image layers of store paths as nix2container writes them (Go's archive/tar, USTAR): store modes (0555
    /// directories and executables, 0444 files), parents <c>/</c>, <c>/nix</c>, <c>/nix/store</c> 0755, owner root (0).
    /// </summary>
    public static readonly TarStyle NixLayer = new(0x16D, 0x124, 0x16D, 0x1ED, "root", false);
}

/// <summary>
/// Writes a POSIX tar stream (ustar; a name that does not fit is split into prefix and name, and only when that is
/// impossible goes in a pax header) entry by entry, file contents copied from streams of known length: nothing is held
/// in memory beyond a block. Owner 0, one fixed time and the <see cref="TarStyle"/>'s modes, so the same content
/// gives the same bytes.
/// </summary>
internal sealed class TarballWriter(Stream output, DateTimeOffset time, TarStyle? style = null)
{
    private const int Block = 512;
    private readonly long _mtime = Math.Max(0, time.ToUnixTimeSeconds());
    private readonly TarStyle _style = style ?? TarStyle.Release;

    /// <summary>A directory the writer adds itself (a parent of what follows), with the style's parent mode.</summary>
    public Task ParentAsync(string path, CancellationToken ct) => HeaderAsync(_style.DirectorySlash ? path + "/" : path, '5', 0, _style.ParentMode, null, ct);

    /// <summary>Every node of a store path's NAR, under <paramref name="root"/>, in the NAR's (sorted) order.</summary>
    public Task StorePathAsync(Stream nar, string root, CancellationToken ct) =>
        NarReader.ReadAsync(nar, async (node, contents, token) =>
        {
            var name = node.Path.Length == 0 ? root : root + "/" + node.Path;
            switch (node.Type)
            {
                case NarNodeType.Directory:
                    await DirectoryAsync(name, token).ConfigureAwait(false);
                    break;
                case NarNodeType.Symlink:
                    await SymlinkAsync(name, node.Target!, token).ConfigureAwait(false);
                    break;
                default:
                    await FileAsync(name, node.Size, node.Executable, contents!, token).ConfigureAwait(false);
                    break;
            }
        }, ct);

    /// <summary>
    /// A directory of the local file system under <paramref name="root"/>: the directory itself, then depth first every
    /// entry sorted by name (ordinal, as Nix sorts a NAR); symlinks kept as links (never followed), files executable
    /// when their owner may execute them. Meant for store paths (a flake's source as Nix copied it), which hold nothing else.
    /// </summary>
    public async Task DirectoryTreeAsync(string directory, string root, CancellationToken ct)
    {
        await DirectoryAsync(root, ct).ConfigureAwait(false);
        var entries = new DirectoryInfo(directory).GetFileSystemInfos();
        Array.Sort(entries, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var entry in entries)
        {
            var name = root + "/" + entry.Name;
            if (entry.LinkTarget is { } target)
            {
                await SymlinkAsync(name, target, ct).ConfigureAwait(false);
            }
            else if (entry is DirectoryInfo)
            {
                await DirectoryTreeAsync(entry.FullName, name, ct).ConfigureAwait(false);
            }
            else
            {
                var file = (FileInfo)entry;
                await using var contents = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                var executable = !OperatingSystem.IsWindows() && (file.UnixFileMode & UnixFileMode.UserExecute) != 0;
                await FileAsync(name, contents.Length, executable, contents, ct).ConfigureAwait(false);
            }
        }
    }

    public Task DirectoryAsync(string path, CancellationToken ct) => HeaderAsync(_style.DirectorySlash ? path + "/" : path, '5', 0, _style.DirectoryMode, null, ct);

    public Task SymlinkAsync(string path, string target, CancellationToken ct) => HeaderAsync(path, '2', 0, 0x1FF, target, ct);

    public async Task FileAsync(string path, long size, bool executable, Stream contents, CancellationToken ct)
    {
        await HeaderAsync(path, '0', size, executable ? _style.ExecutableMode : _style.FileMode, null, ct).ConfigureAwait(false);
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
        var prefix = "";
        if (Encoding.UTF8.GetByteCount(name) > 100 && SplitUstar(name) is var (p, n))
        {
            (prefix, name) = (p, n);
        }

        if (Encoding.UTF8.GetByteCount(name) > 100 || (link is not null && Encoding.UTF8.GetByteCount(link) > 100))
        {
            var records = new StringBuilder();
            records.Append(PaxRecord("path", name));
            if (link is not null)
            {
                records.Append(PaxRecord("linkpath", link));
            }

            var pax = Encoding.UTF8.GetBytes(records.ToString());
            await output.WriteAsync(Header("PaxHeader", 'x', pax.Length, 0x1A4, null, ""), ct).ConfigureAwait(false);
            await output.WriteAsync(pax, ct).ConfigureAwait(false);
            await PadAsync(pax.Length, ct).ConfigureAwait(false);
        }

        await output.WriteAsync(Header(name, type, size, mode, link, prefix), ct).ConfigureAwait(false);
    }

    /// <summary>A long ASCII name split at a '/' into a prefix (at most 155 bytes) and a name (at most 100), as Go's archive/tar does.</summary>
    private static (string Prefix, string Name)? SplitUstar(string name)
    {
        var length = name.Length;
        if (length <= 100 || !Ascii.IsValid(name))
        {
            return null;
        }

        if (length > 156)
        {
            length = 156;
        }
        else if (name[length - 1] == '/')
        {
            length--;
        }

        var i = name.LastIndexOf('/', length - 1);
        var nameLength = name.Length - i - 1;
        return i <= 0 || nameLength > 100 || nameLength == 0 || i > 155 ? null : (name[..i], name[(i + 1)..]);
    }

    private byte[] Header(string name, char type, long size, int mode, string? link, string prefix)
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
        Put(header, 265, 32, _style.Owner);
        Put(header, 297, 32, _style.Owner);
        Octal(header, 329, 8, 0);
        Octal(header, 337, 8, 0);
        Put(header, 345, 155, prefix);
        var sum = 0;
        foreach (var b in header)
        {
            sum += b;
        }

        Octal(header, 148, 7, sum); // six digits, NUL, then the space left from the fill
        header[154] = 0;
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
