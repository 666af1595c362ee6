using System.Formats.Tar;
using System.IO.Compression;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>What a store path that may hold an image is.</summary>
public enum ImageContainer
{
    /// <summary>A directory (an OCI image layout, or an unpacked docker-archive): its files are the NAR's.</summary>
    Directory,

    /// <summary>A tar archive, gzip-compressed or not (docker-archive, oci-archive): its files are the archive's entries.</summary>
    Tarball,

    /// <summary>Any other single file (a nix2container description is one): offered as the file <c>""</c>.</summary>
    File,
}

/// <summary>
/// Reads the regular files of a store path the way an image sees them, front to back in one pass: a directory's files
/// (paths relative to it), or the entries of the tar archive the store path is (leading <c>./</c> and <c>/</c>
/// dropped), decompressing gzip on the way. Each file's contents is a stream valid during the visit only; nothing
/// is buffered beyond one tar block.
/// </summary>
public static class ImageFiles
{
    private const int TarMagicOffset = 257;

    public static async Task<ImageContainer> ReadAsync(Stream nar, Func<string, long, Stream, CancellationToken, ValueTask> visit, CancellationToken ct)
    {
        var container = ImageContainer.Directory;
        await NarReader.ReadAsync(nar, async (node, contents, token) =>
        {
            if (node.Path.Length == 0 && node.Type != NarNodeType.Directory)
            {
                container = ImageContainer.File;
            }

            if (node.Type != NarNodeType.Regular || contents is null)
            {
                return;
            }

            if (node.Path.Length > 0)
            {
                await visit(node.Path, node.Size, contents, token).ConfigureAwait(false);
                return;
            }

            var head = new byte[Math.Min(node.Size, 2)];
            await contents.ReadExactlyAsync(head, token).ConfigureAwait(false);
            Stream rest = new PrefixedStream(head, contents);
            if (head is [0x1f, 0x8b])
            {
                rest = new GZipStream(rest, CompressionMode.Decompress);
            }

            var block = new byte[TarMagicOffset + 5];
            var read = await rest.ReadAtLeastAsync(block, block.Length, throwOnEndOfStream: false, token).ConfigureAwait(false);
            var body = new PrefixedStream(block.AsMemory(0, read), rest);
            if (read == block.Length && block.AsSpan(TarMagicOffset).SequenceEqual("ustar"u8))
            {
                container = ImageContainer.Tarball;
                await ReadTarAsync(body, visit, token).ConfigureAwait(false);
            }
            else if (head is not [0x1f, 0x8b])
            {
                await visit("", node.Size, body, token).ConfigureAwait(false);
            }
        }, ct).ConfigureAwait(false);
        return container;
    }

    private static async Task ReadTarAsync(Stream tar, Func<string, long, Stream, CancellationToken, ValueTask> visit, CancellationToken ct)
    {
        await using var reader = new TarReader(tar, leaveOpen: true);
        try
        {
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
                {
                    var name = entry.Name;
                    while (name.StartsWith("./", StringComparison.Ordinal) || name.StartsWith('/'))
                    {
                        name = name[(name[0] == '.' ? 2 : 1)..];
                    }

                    await visit(name, entry.Length, data, ct).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            throw CacheException.Invalid($"the image archive is not a readable tar: {e.Message}");
        }
    }

    /// <summary>Bytes already read, then the rest of the stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Storage.ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_prefix.IsEmpty)
            {
                return await rest.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }

            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }
    }
}
