using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index;

/// <summary>The Bazel action cache of each cache.</summary>
public interface IActionCacheStore
{
    /// <summary>The stored action result bytes for an action hash in a cache, or null.</summary>
    Task<byte[]?> GetActionResultAsync(long cacheId, BlobDigest actionHash, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces the action result of an action hash in a cache.</summary>
    Task PutActionResultAsync(long cacheId, BlobDigest actionHash, ReadOnlyMemory<byte> actionResult, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>Bumps the last access time of a cache's action results, in one statement per batch; times only move forward.</summary>
    Task TouchActionResultsAsync(long cacheId, IReadOnlyCollection<BlobDigest> actionHashes, DateTimeOffset when, CancellationToken cancellationToken);
}
