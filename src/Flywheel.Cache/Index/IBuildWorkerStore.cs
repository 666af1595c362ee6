namespace Flywheel.Cache.Index;

/// <summary>The build workers seen polling, per lane (their heartbeats).</summary>
public interface IBuildWorkerStore
{
    /// <summary>
    /// Records that <paramref name="worker"/> on <paramref name="host"/> polled for builds of <paramref name="lanes"/> at
    /// <paramref name="when"/> (one row per worker and lane, last seen then), and forgets every worker not seen since
    /// <paramref name="forgetBefore"/>.
    /// </summary>
    Task RecordBuildWorkerAsync(string worker, string host, IReadOnlyCollection<string> lanes, DateTimeOffset when, DateTimeOffset forgetBefore, CancellationToken cancellationToken);

    /// <summary>The workers seen at or after <paramref name="seenSince"/>, one per worker and lane, ordered by lane and worker.</summary>
    Task<IReadOnlyList<BuildWorkerRecord>> ListBuildWorkersAsync(DateTimeOffset seenSince, CancellationToken cancellationToken);

    /// <summary>Forgets <paramref name="worker"/> on every lane (it stopped).</summary>
    Task RemoveBuildWorkerAsync(string worker, CancellationToken cancellationToken);
}
