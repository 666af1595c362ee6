namespace Flywheel.Cache.Grpc;

/// <summary>
/// Options of the gRPC layer, configured once with
/// <see cref="GrpcServiceCollectionExtensions.AddGrpcLayer"/> and read by every <c>MapGrpc*</c> call.
/// </summary>
public sealed class GrpcServerOptions
{
    /// <summary>The default for both message size limits: 16 MiB.</summary>
    public const int DefaultMaxMessageSize = 16 * 1024 * 1024;

    /// <summary>
    /// Largest request message accepted, in bytes; a larger one ends the call with RESOURCE_EXHAUSTED
    /// as soon as its 5-byte prefix is read. The default is 16 MiB: gRPC's customary 4 MiB plus slack
    /// for REAPI batch calls. A unary request is held in memory whole, so this bounds per-call memory;
    /// streamed uploads (ByteStream.Write) arrive as many small messages and are never held whole.
    /// </summary>
    public int MaxReceiveMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Largest response message sent, in bytes; a larger one ends the call with RESOURCE_EXHAUSTED. Default 16 MiB.</summary>
    public int MaxSendMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>
    /// The one place where the host maps its own exception types to gRPC statuses. Called for every
    /// exception a handler throws other than <see cref="GrpcException"/> (and other than cancellation by
    /// deadline or client); return null to fall back to UNKNOWN with a generic message (the exception is
    /// then logged as an error).
    /// </summary>
    public Func<Exception, (GrpcStatusCode Status, string Message)?>? ExceptionMapper { get; set; }
}
