using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>The upstream caches of a cache (read-through) and where their NARs can be fetched.</summary>
public interface IUpstreamStore
{
    /// <summary>
    /// Adds an upstream to a cache (Id and CreatedAt of the argument are ignored); <see cref="CacheError.Conflict"/> when
    /// the cache has that URL already, <see cref="CacheError.NotFound"/> when there is no such cache.
    /// </summary>
    Task<UpstreamRecord> AddUpstreamAsync(UpstreamRecord upstream, CancellationToken cancellationToken);

    /// <summary>The upstreams of a cache in the order they are asked: priority ascending, then id.</summary>
    Task<IReadOnlyList<UpstreamRecord>> ListUpstreamsAsync(long cacheId, CancellationToken cancellationToken);

    /// <summary>Removes the upstream with that URL (and what was recorded about its NARs); false when there is none.</summary>
    Task<bool> RemoveUpstreamAsync(long cacheId, string url, CancellationToken cancellationToken);

    /// <summary>Records where a NAR of the cache can be fetched from upstream; a record for the same FileHash is replaced.</summary>
    Task PutUpstreamNarAsync(long cacheId, UpstreamNarRecord nar, CancellationToken cancellationToken);

    Task<UpstreamNarRecord?> GetUpstreamNarAsync(long cacheId, BlobDigest fileHash, CancellationToken cancellationToken);
}
