using System.Reflection;
using System.Runtime.ExceptionServices;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// An interface proxy that forwards every call to a real implementation and notes the method's name, for tests that
/// count what a component asks of its backends (index queries, S3 calls: each a round trip in production).
/// </summary>
public class CallRecorder<T> : DispatchProxy
    where T : class
{
    private T _inner = null!;
    private List<string> _calls = null!;

    /// <summary>A <typeparamref name="T"/> that calls <paramref name="inner"/> and adds each method's name to <paramref name="calls"/>.</summary>
    public static T Wrap(T inner, List<string> calls)
    {
        var proxy = Create<T, CallRecorder<T>>();
        var recorder = (CallRecorder<T>)(object)proxy;
        recorder._inner = inner;
        recorder._calls = calls;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        lock (_calls)
        {
            _calls.Add(targetMethod.Name);
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
