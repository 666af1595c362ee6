using System.Collections.Concurrent;
using Polly;
using Polly.CircuitBreaker;

namespace Flywheel.Cache.Upstream;

/// <summary>The circuit state of one upstream, for metrics and readiness detail.</summary>
public readonly record struct UpstreamCircuit(string CacheName, string Url, CircuitState State);

/// <summary>
/// One circuit breaker (Polly) per upstream: an upstream whose requests keep failing is skipped for
/// <see cref="UpstreamOptions.BreakDuration"/>, so that a dead upstream costs one quick check instead of a timeout per request.
/// Only <see cref="UpstreamUnavailableException"/> counts as a failure: a miss or a badly signed narinfo is an answer.
/// </summary>
public sealed class UpstreamBreakers
{
    private readonly ConcurrentDictionary<long, Breaker> _breakers = new();
    private readonly UpstreamOptions _options;
    private readonly TimeProvider _time;

    public UpstreamBreakers(UpstreamOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>
    /// Runs <paramref name="operation"/> through the upstream's breaker. Throws <see cref="BrokenCircuitException"/>
    /// without running it while the circuit is open.
    /// </summary>
    public ValueTask<T> ExecuteAsync<T, TState>(
        Upstream upstream, TState state, Func<TState, CancellationToken, ValueTask<T>> operation, CancellationToken cancellationToken)
    {
        var breaker = _breakers.GetOrAdd(upstream.Id, static (_, s) => s.self.Create(s.upstream), (self: this, upstream));
        return breaker.Pipeline.ExecuteAsync(operation, state, cancellationToken);
    }

    /// <summary>The state of every upstream used since it was configured.</summary>
    public IReadOnlyList<UpstreamCircuit> Circuits() =>
        _breakers.Values.Select(b => new UpstreamCircuit(b.CacheName, b.Url, b.State.CircuitState)).OrderBy(c => c.CacheName, StringComparer.Ordinal)
            .ThenBy(c => c.Url, StringComparer.Ordinal).ToList();

    /// <summary>Drops the breaker of a removed upstream.</summary>
    public void Forget(long upstreamId) => _breakers.TryRemove(upstreamId, out _);

    private Breaker Create(Upstream upstream)
    {
        var state = new CircuitBreakerStateProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = Math.Max(2, _options.BreakAfterFailures),
                SamplingDuration = _options.SamplingDuration,
                BreakDuration = _options.BreakDuration,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is UpstreamUnavailableException),
                StateProvider = state,
            })
            .Build();
        return new Breaker(upstream.CacheName, upstream.Url, pipeline, state);
    }

    private sealed record Breaker(string CacheName, string Url, ResiliencePipeline Pipeline, CircuitBreakerStateProvider State);
}
