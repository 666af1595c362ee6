namespace Flywheel.Cache.Index;

/// <summary>Pins: store paths that retention never collects, with their closure.</summary>
public interface IPinStore
{
    /// <summary>Pins a store path of a cache; pinning it again keeps the first pin. The path need not be in the cache yet.</summary>
    Task PinAsync(long cacheId, string storePathHash, string reason, DateTimeOffset when, CancellationToken cancellationToken);

    /// <summary>Removes a pin; returns false when there was none.</summary>
    Task<bool> UnpinAsync(long cacheId, string storePathHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<PinRecord>> ListPinsAsync(long cacheId, CancellationToken cancellationToken);
}
