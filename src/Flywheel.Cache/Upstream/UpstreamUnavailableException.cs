namespace Flywheel.Cache.Upstream;

/// <summary>
/// An upstream failed to answer: unreachable, an error status, a timeout, a stalled or broken download. What the
/// circuit breaker counts. The read-through reports it to clients as <see cref="CacheError.Unavailable"/>.
/// </summary>
public sealed class UpstreamUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
