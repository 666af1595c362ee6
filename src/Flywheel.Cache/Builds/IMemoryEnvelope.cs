namespace Flywheel.Cache.Builds;

/// <summary>
/// A memory limit around the processes of one build attempt: a cgroup (<see cref="CgroupEnvelope"/>) when this
/// process may create one, else sampling of the process tree's resident memory with a kill over the limit
/// (<see cref="SampledEnvelope"/>). Create them with <see cref="MemoryEnvelopes.Create"/>.
/// </summary>
public interface IMemoryEnvelope : IDisposable
{
    /// <summary>How the limit is enforced, for the build record: <c>cgroup-v2</c>, <c>cgroup-v1</c>, or <c>none: &lt;reason&gt;</c>.</summary>
    string Method { get; }

    long LimitBytes { get; }

    /// <summary>The command, changed so that it starts inside the envelope.</summary>
    ProcessCommand Wrap(ProcessCommand command);

    /// <summary>Called with the id of the (wrapped) process once it runs.</summary>
    void Watch(int processId);

    /// <summary>The highest memory use seen so far, or null when it cannot be measured.</summary>
    long? PeakBytes { get; }

    /// <summary>Whether a process in the envelope was killed for exceeding the limit.</summary>
    bool OutOfMemoryKilled { get; }
}
