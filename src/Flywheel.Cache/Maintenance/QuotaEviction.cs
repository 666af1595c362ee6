using Flywheel.Cache.Index;

namespace Flywheel.Cache.Maintenance;

/// <summary>
/// Keeps a cache with a quota within it: while the blobs it uses add up to more than the quota, the least recently
/// used stop being its blobs (other caches' use is untouched; a blob no cache uses is collected later, after the
/// grace period), and so do its action results not accessed since the newest evicted blob.
/// </summary>
public sealed class QuotaEviction
{
    private const int PageSize = 1000;

    private readonly IRetentionStore _retention;

    public QuotaEviction(IRetentionStore retention) => _retention = retention;

    /// <summary>Evicts until the cache is within its quota; returns the blob entries and action results removed.</summary>
    public async Task<(RemovedEntries Blobs, RemovedEntries ActionResults, long BlobBytesAfter)> RunAsync(
        CacheRecord cache, bool dryRun, CancellationToken cancellationToken)
    {
        var usage = await _retention.GetCacheUsageAsync(cache.Id, cancellationToken).ConfigureAwait(false);
        if (cache.QuotaBytes is not { } quota || usage.BlobBytes <= quota)
        {
            return (RemovedEntries.None, RemovedEntries.None, usage.BlobBytes);
        }

        var excess = usage.BlobBytes - quota;
        var evicted = RemovedEntries.None;
        CacheBlobEntry? after = null;
        DateTimeOffset? newestEvicted = null;
        while (evicted.Bytes < excess)
        {
            var page = await _retention.ListLeastRecentCacheBlobsAsync(cache.Id, after, PageSize, cancellationToken).ConfigureAwait(false);
            if (page.Count == 0)
            {
                break;
            }

            var take = new List<CacheBlobEntry>(page.Count);
            long planned = 0;
            foreach (var entry in page)
            {
                if (evicted.Bytes + planned >= excess)
                {
                    break;
                }

                take.Add(entry);
                planned += entry.Size;
            }

            evicted += dryRun
                ? new RemovedEntries(take.Count, planned)
                : await _retention.RemoveCacheBlobsAsync(cache.Id, take, cancellationToken).ConfigureAwait(false);
            newestEvicted = take[^1].LastAccess;
            after = take[^1];
        }

        var actions = RemovedEntries.None;
        if (newestEvicted is { } cutoff && !dryRun)
        {
            actions = await _retention.RemoveActionResultsAsync(cache.Id, cutoff.AddMilliseconds(1), cancellationToken).ConfigureAwait(false);
        }

        return (evicted, actions, usage.BlobBytes - evicted.Bytes);
    }
}
