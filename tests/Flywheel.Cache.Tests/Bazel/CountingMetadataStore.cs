using System.Collections.Concurrent;
using System.Reflection;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>
/// An <see cref="IMetadataIndex"/> that forwards every call and counts them by method name. A method with a gate
/// (<see cref="Hold"/>, <c>Task&lt;T&gt;</c> methods only) is counted at once but reaches the store only when the
/// gate opens, so a test can make callers pile up behind one call.
/// </summary>
public class CountingMetadataStore : DispatchProxy
{
    private IMetadataIndex _inner = null!;

    public ConcurrentDictionary<string, int> Calls { get; } = new();

    public static (IMetadataIndex Store, CountingMetadataStore Counter) Wrap(IMetadataIndex inner)
    {
        var proxy = Create<IMetadataIndex, CountingMetadataStore>();
        var counter = (CountingMetadataStore)(object)proxy;
        counter._inner = inner;
        return (proxy, counter);
    }

    public ConcurrentDictionary<string, Task> Gates { get; } = new();

    public int Count(string method) => Calls.GetValueOrDefault(method);

    /// <summary>Calls of <paramref name="method"/> wait until the returned source is completed.</summary>
    public TaskCompletionSource Hold(string method)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Gates[method] = gate.Task;
        return gate;
    }

    private static Func<Task<T>> Typed<T>(Func<Task> call) => () => (Task<T>)call();

    private static async Task<T> AfterAsync<T>(Task gate, Func<Task<T>> call)
    {
        await gate;
        return await call();
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        Calls.AddOrUpdate(targetMethod.Name, 1, static (_, n) => n + 1);
        if (Gates.TryGetValue(targetMethod.Name, out var gate))
        {
            var result = targetMethod.ReturnType.GetGenericArguments().Single();
            Func<Task> call = () => (Task)targetMethod.Invoke(_inner, args)!;
            var typedCall = typeof(CountingMetadataStore).GetMethod(nameof(Typed), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(result).Invoke(null, [call])!;
            return typeof(CountingMetadataStore).GetMethod(nameof(AfterAsync), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(result).Invoke(null, [gate, typedCall]);
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }
}
