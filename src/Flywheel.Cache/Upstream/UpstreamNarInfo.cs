using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// Turns a narinfo fetched from an upstream into the one this cache serves, or refuses it (<see cref="CacheError.Invalid"/>):
/// it must parse, be for the store path asked, carry a signature by one of the upstream's trusted keys, and describe a
/// NAR file we can verify (a compression we decompress; FileHash and FileSize, which for an uncompressed file, as Attic
/// serves, are the NarHash and NarSize). The result points at this cache's <c>nar/&lt;filehash&gt;.nar[.ext]</c>,
/// keeps the upstream's signatures, and comes with the record of where its NAR is to be fetched from.
/// </summary>
public static class UpstreamNarInfo
{
    public static (NarInfo Served, UpstreamNarRecord Nar) Accept(
        ReadOnlySpan<byte> body, Upstream upstream, string storePathHash, string storeDir, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        var info = NarInfo.Parse(body, storeDir);
        if (info.StorePath.HashPart != storePathHash)
        {
            throw CacheException.Invalid($"upstream {upstream.Url} answered {storePathHash}.narinfo with the narinfo of {info.StorePath}");
        }

        if (!info.IsSignedByAny(upstream.TrustedKeys))
        {
            throw CacheException.Invalid(info.Sigs.Count == 0
                ? $"upstream {upstream.Url}: the narinfo of {info.StorePath} is not signed"
                : $"upstream {upstream.Url}: the narinfo of {info.StorePath} is signed by none of the trusted keys ({string.Join(", ", upstream.TrustedKeys.Select(k => k.Name))}); its signatures name {string.Join(", ", info.Sigs.Select(s => s[..s.IndexOf(':')]))}");
        }

        if (info.CompressionKind is not { } compression)
        {
            throw CacheException.Invalid($"upstream {upstream.Url}: the NAR of {info.StorePath} is compressed with '{info.Compression}', which cannot be verified here");
        }

        var fileHash = info.FileHash ?? (compression == NarCompression.None
            ? info.NarHash
            : throw CacheException.Invalid($"upstream {upstream.Url}: the narinfo of {info.StorePath} has no FileHash for its {info.Compression} NAR"));
        var fileSize = info.FileSize ?? (compression == NarCompression.None
            ? info.NarSize
            : throw CacheException.Invalid($"upstream {upstream.Url}: the narinfo of {info.StorePath} has no FileSize for its {info.Compression} NAR"));
        // The URL is not signed: it may only point into the upstream itself, which is also where its token may go.
        if (!Uri.TryCreate(upstream.BaseUri, info.Url, out var narUri)
            || Uri.Compare(narUri, upstream.BaseUri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0)
        {
            throw CacheException.Invalid($"upstream {upstream.Url}: the narinfo of {info.StorePath} has URL '{info.Url}', which is not a location at the upstream");
        }

        var name = new NarFileName(fileHash.Digest, compression);
        info.Url = "nar/" + name;
        info.Compression = compression.ToNarInfoName();
        info.FileHash = fileHash;
        info.FileSize = fileSize;
        var nar = new UpstreamNarRecord(
            fileHash.Digest, upstream.Id, narUri.AbsoluteUri, info.Compression, fileSize, info.NarHash.ToString(), info.NarSize, now);
        return (info, nar);
    }
}
