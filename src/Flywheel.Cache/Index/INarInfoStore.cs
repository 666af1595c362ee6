using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>What a Nix cache serves: narinfo records, the verification records of its NAR files and auxiliary files (build logs, listings).</summary>
public interface INarInfoStore
{
    /// <summary>Records a verified NAR file for a cache; an existing record for the same FileHash is kept.</summary>
    Task PutNarFileAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken);

    /// <summary>
    /// Records a verified NAR upload in one transaction: the blob (as <see cref="IBlobIndex.RecordBlobAsync"/>), the
    /// NAR file record (as <see cref="PutNarFileAsync"/>) and the cache's ownership of the blob (as
    /// <see cref="IBlobIndex.AddCacheBlobsAsync"/>). <see cref="NarFileRecord.CreatedAt"/> is the time of all three.
    /// </summary>
    Task RecordNarUploadAsync(long cacheId, NarFileRecord nar, CancellationToken cancellationToken);

    Task<NarFileRecord?> GetNarFileAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken);

    /// <summary>
    /// For a narinfo upload, in one query (one round trip): the cache's NAR file record of <paramref name="fileHash"/>
    /// and the text of the narinfo it has for <paramref name="storePathHash"/> already; null when it has no such NAR file.
    /// </summary>
    Task<NarInfoUploadBasis?> GetNarInfoUploadBasisAsync(long cacheId, BlobDigest fileHash, string storePathHash, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces the narinfo of a store path in a cache.</summary>
    Task PutNarInfoAsync(long cacheId, NarInfoRecord narInfo, CancellationToken cancellationToken);

    Task<NarInfoRecord?> GetNarInfoAsync(long cacheId, string storePathHash, CancellationToken cancellationToken);

    /// <summary>Which of the given store path hashes the cache has, in one query.</summary>
    Task<IReadOnlySet<string>> FindNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, CancellationToken cancellationToken);

    /// <summary>Bumps the last access time of narinfos, in one statement per batch.</summary>
    Task TouchNarInfosAsync(long cacheId, IReadOnlyCollection<string> storePathHashes, DateTimeOffset when, CancellationToken cancellationToken);

    Task PutCacheFileAsync(long cacheId, CacheFileRecord file, CancellationToken cancellationToken);

    Task<CacheFileRecord?> GetCacheFileAsync(long cacheId, string path, CancellationToken cancellationToken);
}
