using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Maintenance;

/// <summary>
/// Retention for a Nix cache: a narinfo not accessed for the cache's retention period is removed, unless it is
/// pinned or in the closure of a path that is kept (pinned, or accessed within the period), so a kept path stays
/// substitutable with everything it references. The reference graph is read page by page into memory (a few
/// dozen bytes per path plus its reference text), then the expired paths are removed in batches, each one only if
/// it is still unpinned and still not accessed since the cut-off (a read meanwhile keeps it).
/// </summary>
public sealed class NixRetention
{
    private const int PageSize = 5000;
    private const int RemoveBatch = 500;

    private readonly IRetentionStore _retention;
    private readonly IPinStore _pins;

    public NixRetention(IRetentionStore retention, IPinStore pins)
    {
        _retention = retention;
        _pins = pins;
    }

    public async Task<RemovedEntries> RunAsync(CacheRecord cache, DateTimeOffset now, bool dryRun, CancellationToken cancellationToken)
    {
        if (cache.Retention is not { } retention)
        {
            return RemovedEntries.None;
        }

        var since = now - retention;
        var nodes = new List<NarInfoNode>();
        string? after = null;
        while (true)
        {
            var page = await _retention.ListNarInfoNodesAsync(cache.Id, after, PageSize, cancellationToken).ConfigureAwait(false);
            nodes.AddRange(page);
            if (page.Count < PageSize)
            {
                break;
            }

            after = page[^1].StorePathHash;
        }

        var pins = await _pins.ListPinsAsync(cache.Id, cancellationToken).ConfigureAwait(false);
        var kept = Kept(nodes, pins.Select(p => p.StorePathHash), since);
        var expired = new List<NarInfoNode>();
        for (var i = 0; i < nodes.Count; i++)
        {
            if (!kept[i])
            {
                expired.Add(nodes[i]);
            }
        }

        if (dryRun)
        {
            return new RemovedEntries(expired.Count, expired.Sum(n => n.FileSize));
        }

        var removed = RemovedEntries.None;
        foreach (var batch in expired.Chunk(RemoveBatch))
        {
            removed += await _retention.RemoveNarInfosAsync(cache.Id, batch.Select(n => n.StorePathHash).ToList(), since, cancellationToken)
                .ConfigureAwait(false);
        }

        return removed;
    }

    /// <summary>Marks every node that is a root (pinned, or accessed since <paramref name="since"/>) or reachable from one by references.</summary>
    internal static bool[] Kept(IReadOnlyList<NarInfoNode> nodes, IEnumerable<string> pinned, DateTimeOffset since)
    {
        var positions = new Dictionary<string, int>(nodes.Count, StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++)
        {
            positions[nodes[i].StorePathHash] = i;
        }

        var kept = new bool[nodes.Count];
        var pending = new Stack<int>();
        void Keep(int position)
        {
            if (!kept[position])
            {
                kept[position] = true;
                pending.Push(position);
            }
        }

        foreach (var hash in pinned)
        {
            if (positions.TryGetValue(hash, out var position))
            {
                Keep(position);
            }
        }

        for (var i = 0; i < nodes.Count; i++)
        {
            if (nodes[i].LastAccess >= since)
            {
                Keep(i);
            }
        }

        while (pending.TryPop(out var current))
        {
            foreach (var reference in nodes[current].References.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                // A reference is a store path base name, "<32-character hash>-<name>"; the hash part is the key.
                if (reference.Length >= StorePath.HashPartLength && positions.TryGetValue(reference[..StorePath.HashPartLength], out var position))
                {
                    Keep(position);
                }
            }
        }

        return kept;
    }
}
