using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Promotion;

/// <summary>Opens the NAR of a store path of a cache as stored in the blob store, decompressed as it is read.</summary>
public sealed class NarSource(INarInfoStore narInfos, IBlobStore blobs)
{
    /// <summary>The NAR bytes; <see cref="CacheError.NotFound"/> when the cache lacks the path or its NAR file.</summary>
    public async Task<Stream> OpenAsync(long cacheId, StorePath path, CancellationToken ct)
    {
        var info = await narInfos.GetNarInfoAsync(cacheId, path.HashPart, ct).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"the cache has no narinfo for {path}");
        var file = await narInfos.GetNarFileAsync(cacheId, info.FileHash, ct).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"the cache has no NAR file for {path}");
        if (!NarCompressions.TryFromNarInfoName(file.Compression, out var compression))
        {
            throw CacheException.Invalid($"the NAR of {path} uses compression '{file.Compression}', which the gateway cannot read");
        }

        var blob = await blobs.OpenAsync(file.FileHash, ct).ConfigureAwait(false)
            ?? throw CacheException.NotFound($"the NAR file of {path} is missing from the blob store");
        var stored = await blob.OpenReadAsync(ct).ConfigureAwait(false);
        return new DecompressingReadStream(stored, compression);
    }
}
