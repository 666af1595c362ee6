using System.Collections.Concurrent;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// The prometheus-net children of one or more labelled metrics, created once per key and kept, so recording a
/// series seen before is one dictionary lookup and allocates nothing (<c>WithLabels</c> would take a new label array
/// each time). Keys must come from small fixed sets, as the label values they stand for.
/// </summary>
internal sealed class LabelledSeries<TKey, TSeries>(Func<TKey, TSeries> create)
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, TSeries> _series = new();

    public TSeries Get(TKey key) => _series.TryGetValue(key, out var series) ? series : _series.GetOrAdd(key, create);
}
