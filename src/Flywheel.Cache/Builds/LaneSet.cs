namespace Flywheel.Cache.Builds;

/// <summary>The configured lanes, smallest memory envelope first.</summary>
public sealed class LaneSet
{
    private readonly Lane[] _lanes;

    public LaneSet(IEnumerable<Lane> lanes)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        _lanes = [.. lanes.OrderBy(l => l.MemoryBytes).ThenBy(l => l.Name, StringComparer.Ordinal)];
        if (_lanes.Length == 0)
        {
            throw new CacheException(CacheError.Invalid, "at least one build lane must be configured");
        }

        foreach (var lane in _lanes)
        {
            if (string.IsNullOrWhiteSpace(lane.Name) || lane.MemoryBytes <= 0 || lane.Cpus <= 0 || lane.Concurrency <= 0)
            {
                throw new CacheException(CacheError.Invalid, $"lane '{lane.Name}' needs a name and positive memory, CPUs and concurrency");
            }
        }

        if (_lanes.Select(l => l.Name).Distinct(StringComparer.Ordinal).Count() != _lanes.Length)
        {
            throw new CacheException(CacheError.Invalid, "lane names must be distinct");
        }
    }

    /// <summary>Smallest envelope first.</summary>
    public IReadOnlyList<Lane> All => _lanes;

    public Lane Smallest => _lanes[0];

    public Lane Largest => _lanes[^1];

    public Lane Get(string name) =>
        Find(name) ?? throw new CacheException(CacheError.Invalid, $"no lane {ClientText.Quote(name)} (lanes: {string.Join(", ", _lanes.Select(l => l.Name))})");

    public Lane? Find(string name) => Array.Find(_lanes, l => l.Name == name);

    /// <summary>The next larger lane, or null when <paramref name="lane"/> is the largest.</summary>
    public Lane? NextLarger(Lane lane)
    {
        var i = Array.FindIndex(_lanes, l => l.Name == lane.Name);
        return i >= 0 && i + 1 < _lanes.Length ? _lanes[i + 1] : null;
    }
}
