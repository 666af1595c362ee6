using System.Collections.Concurrent;
using System.Reflection;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>An <see cref="IMetadataStore"/> that forwards every call and counts them by method name.</summary>
public class CountingMetadataStore : DispatchProxy
{
    private IMetadataStore _inner = null!;

    public ConcurrentDictionary<string, int> Calls { get; } = new();

    public static (IMetadataStore Store, CountingMetadataStore Counter) Wrap(IMetadataStore inner)
    {
        var proxy = Create<IMetadataStore, CountingMetadataStore>();
        var counter = (CountingMetadataStore)(object)proxy;
        counter._inner = inner;
        return (proxy, counter);
    }

    public int Count(string method) => Calls.GetValueOrDefault(method);

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        Calls.AddOrUpdate(targetMethod.Name, 1, static (_, n) => n + 1);
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
