namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// The aggregated value of one instrument for one label set. Updates are lock-free (Interlocked); a scrape
/// reads the fields without stopping writers, so a histogram's sum may trail its count by a measurement in flight.
/// </summary>
internal sealed class MetricSeries
{
    private long _longValue;
    private double _doubleValue;
    private readonly long[]? _buckets;
    private double _sum;
    private long _observedGeneration;

    public MetricSeries(string labels, int bucketCount)
    {
        Labels = labels;
        _buckets = bucketCount > 0 ? new long[bucketCount] : null;
    }

    /// <summary>The rendered label pairs without braces, sorted by name, e.g. <c>method="GET",route="/x"</c>; empty when there are none.</summary>
    public string Labels { get; }

    public long LongValue => Volatile.Read(ref _longValue);

    public double DoubleValue => Volatile.Read(ref _doubleValue);

    public double Sum => Volatile.Read(ref _sum);

    public long ObservedGeneration => Volatile.Read(ref _observedGeneration);

    public void Add(long value) => Interlocked.Add(ref _longValue, value);

    public void Add(double value) => AddDouble(ref _doubleValue, value);

    public void Set(double value, long generation)
    {
        Volatile.Write(ref _doubleValue, value);
        Volatile.Write(ref _observedGeneration, generation);
    }

    /// <summary>Counts <paramref name="value"/> in the first bucket whose upper bound is at least the value (the last bucket is +Inf).</summary>
    public void Observe(double value, double[] bounds)
    {
        if (double.IsNaN(value))
        {
            return;
        }

        var index = Array.BinarySearch(bounds, value);
        if (index < 0)
        {
            index = ~index;
        }

        Interlocked.Increment(ref _buckets![index]);
        AddDouble(ref _sum, value);
    }

    /// <summary>The count in each bucket (not cumulative), the last one being +Inf.</summary>
    public void CopyBuckets(Span<long> destination)
    {
        for (var i = 0; i < _buckets!.Length; i++)
        {
            destination[i] = Volatile.Read(ref _buckets[i]);
        }
    }

    private static void AddDouble(ref double location, double value)
    {
        var current = Volatile.Read(ref location);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref location, current + value, current);
            if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current))
            {
                return;
            }

            current = seen;
        }
    }
}
