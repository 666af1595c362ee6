namespace Flywheel.Cache.Upstream;

/// <summary>What was asked of an upstream.</summary>
public enum UpstreamFetchKind
{
    NarInfo,
    Nar,
}

/// <summary>How an upstream answered.</summary>
public enum UpstreamFetchResult
{
    /// <summary>It had it, and it was verified and stored.</summary>
    Hit,
    /// <summary>It does not have it.</summary>
    Miss,
    /// <summary>It answered with something that failed verification (signature, hashes): never served.</summary>
    Rejected,
    /// <summary>It failed: unreachable, an error status, a timeout.</summary>
    Error,
    /// <summary>Not asked: its circuit is open.</summary>
    Skipped,
}

/// <summary>One request to an upstream (or one skipped), as the read-through reports it for metrics.</summary>
/// <param name="Error">For an error or a refused answer: what went wrong (our own message, naming the upstream).</param>
public readonly record struct UpstreamFetch(Upstream Upstream, UpstreamFetchKind Kind, UpstreamFetchResult Result, string? Error = null);
