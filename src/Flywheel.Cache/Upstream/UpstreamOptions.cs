namespace Flywheel.Cache.Upstream;

/// <summary>How read-through to upstream caches behaves, for every upstream of every cache.</summary>
/// <param name="NegativeTtl">How long "no upstream has this narinfo" is remembered; zero remembers nothing.</param>
/// <param name="BreakDuration">How long an upstream whose circuit opened is skipped before it is tried again.</param>
/// <param name="BreakAfterFailures">Failed requests (errors, timeouts, 5xx), at least half of those made within
/// <see cref="SamplingDuration"/>, that open an upstream's circuit.</param>
public sealed record UpstreamOptions(
    TimeSpan NegativeTtl,
    TimeSpan BreakDuration,
    int BreakAfterFailures,
    TimeSpan SamplingDuration)
{
    /// <summary>An upstream's request timeout when its configuration gives none.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>An upstream's priority when its configuration gives none (lower is asked first).</summary>
    public const int DefaultPriority = 50;

    public static UpstreamOptions Default { get; } =
        new(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), BreakAfterFailures: 4, SamplingDuration: TimeSpan.FromSeconds(30));
}
