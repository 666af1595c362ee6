using System.Collections.Concurrent;

namespace Flywheel.Cache;

/// <summary>
/// Request coalescing: callers asking for the same key while a computation for it runs share that one computation.
/// The computation is not the first caller's: it runs to its end even if that caller gives up (callers wait with
/// their own cancellation). The key is forgotten once the result is there, so the next call computes afresh.
/// </summary>
public sealed class Coalescer<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Task<TValue>> _running = new();

    /// <summary>How many computations are running.</summary>
    public int Running => _running.Count;

    public Task<TValue> RunAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> compute)
    {
        ArgumentNullException.ThrowIfNull(compute);
        if (_running.TryGetValue(key, out var running))
        {
            return running;
        }

        var promise = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
        running = _running.GetOrAdd(key, promise.Task);
        if (running != promise.Task)
        {
            return running;
        }

        _ = ComputeAsync(key, state, compute, promise);
        return promise.Task;
    }

    private async Task ComputeAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> compute, TaskCompletionSource<TValue> promise)
    {
        // The key is forgotten before the result is published: a caller that has seen the result (say, a failure)
        // and asks again must start a new computation, not join the finished one.
        var entry = new KeyValuePair<TKey, Task<TValue>>(key, promise.Task);
        TValue result;
        try
        {
            await Task.Yield(); // never on the first caller's stack
            result = await compute(key, state).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _running.TryRemove(entry);
            promise.SetException(e);
            _ = promise.Task.Exception; // observed: every caller may have given up already
            return;
        }

        _running.TryRemove(entry);
        promise.SetResult(result);
    }
}
