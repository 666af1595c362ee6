namespace Flywheel.Cache.Grpc;

/// <summary>
/// A gRPC call ending with a non-OK status. Handlers throw it to answer with <see cref="Status"/>;
/// <see cref="GrpcClient"/> throws it when a call ends with a non-OK status.
/// </summary>
public sealed class GrpcException : Exception
{
    public GrpcException(GrpcStatusCode status, string message)
        : this(status, message, details: null)
    {
    }

    /// <param name="details">A serialized <c>google.rpc.Status</c>, sent as the <c>grpc-status-details-bin</c> trailer.</param>
    public GrpcException(GrpcStatusCode status, string message, byte[]? details)
        : base(message)
    {
        Status = status;
        Details = details;
    }

    public GrpcStatusCode Status { get; }

    /// <summary>A serialized <c>google.rpc.Status</c> (the <c>grpc-status-details-bin</c> trailer), if any.</summary>
    public byte[]? Details { get; }

    public override string ToString() => $"{GetType().Name}: Status={Status}, Message=\"{Message}\"";
}
