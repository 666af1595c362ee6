using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Flywheel.Cache.Caches;
using Google.Protobuf;
using RemoteDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace Flywheel.Cache.Bazel;

/// <summary>A Directory of a tree with the digest it is stored under.</summary>
public readonly record struct TreeDirectory(BazelDigest Digest, RemoteDirectory Directory);

/// <summary>One GetTree response: directories in breadth-first order, and the token for the next page ("" when done).</summary>
public sealed record TreePage(IReadOnlyList<RemoteDirectory> Directories, string NextPageToken);

public sealed partial class BazelCache
{
    private const string PageTokenVersion = "t1";

    /// <summary>
    /// Every Directory under <paramref name="root"/> (itself first), breadth-first in the order the directories list
    /// them, each distinct digest once. Directories the cache does not own, or not parsable, are left out with
    /// everything below them (the protocol's "return the portion present"). A missing root is
    /// <see cref="CacheError.NotFound"/>, raised by the first step of the enumeration.
    /// </summary>
    public async IAsyncEnumerable<TreeDirectory> WalkTreeAsync(CacheContext cache, BazelDigest root, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var first = await ReadDirectoryAsync(cache, root, cancellationToken).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"tree root {root} is not in the CAS (or is not a Directory)");
        var seen = new HashSet<BazelDigest> { root };
        var queue = new Queue<TreeDirectory>();
        queue.Enqueue(new TreeDirectory(root, first));
        while (queue.TryDequeue(out var current))
        {
            yield return current;
            foreach (var child in current.Directory.Directories)
            {
                if (!BazelDigest.TryFrom(child.Digest, out var digest) || !seen.Add(digest))
                {
                    continue;
                }

                var directory = await ReadDirectoryAsync(cache, digest, cancellationToken).ConfigureAwait(false);
                if (directory is not null)
                {
                    queue.Enqueue(new TreeDirectory(digest, directory));
                }
            }
        }
    }

    /// <summary>
    /// One page of GetTree: at most <paramref name="pageSize"/> directories (the server's choice when 0 or less) and
    /// at most <see cref="BazelLimits.MaxBatchTotalBytes"/> of them serialized, always at least one. The page token
    /// is opaque to clients; it names the root, the position and the digest expected there, and a token that does
    /// not fit this tree is <see cref="CacheError.Invalid"/>. Continuing walks the tree again up to the position.
    /// </summary>
    public async Task<TreePage> GetTreeAsync(CacheContext cache, BazelDigest root, int pageSize, string? pageToken, CancellationToken cancellationToken)
    {
        long offset = 0;
        BazelDigest? expectedNext = null;
        if (!string.IsNullOrEmpty(pageToken))
        {
            if (!TryReadPageToken(pageToken, out var tokenRoot, out offset, out var next) || tokenRoot != root)
            {
                throw CacheException.Invalid($"page_token '{Clip(pageToken)}' was not issued by this server for tree {root}");
            }

            expectedNext = next;
        }

        var limit = pageSize > 0 ? pageSize : int.MaxValue;
        var directories = new List<RemoteDirectory>();
        long bytes = 0;
        long position = 0;
        await foreach (var entry in WalkTreeAsync(cache, root, cancellationToken).ConfigureAwait(false))
        {
            if (position < offset)
            {
                position++;
                continue;
            }

            if (position == offset && expectedNext is { } expected && entry.Digest != expected)
            {
                throw CacheException.Invalid($"page_token '{Clip(pageToken!)}' does not fit tree {root} any more; start again without it");
            }

            var size = entry.Directory.CalculateSize();
            if (directories.Count > 0 && (directories.Count >= limit || bytes + size > Limits.MaxBatchTotalBytes))
            {
                return new TreePage(directories, WritePageToken(root, position, entry.Digest));
            }

            directories.Add(entry.Directory);
            bytes += size;
            position++;
        }

        if (position <= offset && offset > 0)
        {
            throw CacheException.Invalid($"page_token '{Clip(pageToken!)}' points past the end of tree {root}");
        }

        return new TreePage(directories, "");
    }

    private async Task<RemoteDirectory?> ReadDirectoryAsync(CacheContext cache, BazelDigest digest, CancellationToken cancellationToken)
    {
        var bytes = await ReadSmallCoreAsync(cache, digest, Limits.MaxTreeBytes, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return RemoteDirectory.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    // Token text: "t1/<root>/<position>/<next>", base64url-encoded so clients treat it as opaque.
    private static string WritePageToken(BazelDigest root, long position, BazelDigest next) =>
        Base64Url.EncodeToString(Encoding.ASCII.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{PageTokenVersion}/{root}/{position}/{next}")));

    private static bool TryReadPageToken(string token, out BazelDigest root, out long position, out BazelDigest next)
    {
        root = default;
        next = default;
        position = 0;
        if (token.Length > 512 || !Base64Url.IsValid(token))
        {
            return false;
        }

        var text = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(token));
        var parts = text.Split('/');
        return parts.Length == 6 &&
               parts[0] == PageTokenVersion &&
               BazelDigest.TryParse(parts[1], parts[2], out root) &&
               long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out position) &&
               position > 0 &&
               BazelDigest.TryParse(parts[4], parts[5], out next);
    }

    private static string Clip(string value) => value.Length > 80 ? value[..80] + "…" : value;
}
