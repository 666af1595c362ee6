namespace Flywheel.Cache.Grpc;

/// <summary>Per-call options of <see cref="GrpcClient"/>.</summary>
public sealed class GrpcCallOptions
{
    /// <summary>
    /// Request metadata, e.g. "authorization". Names ending in "-bin" carry binary values: give them
    /// already base64-encoded (see <see cref="Protocol.GrpcBinaryMetadata.Encode"/>).
    /// </summary>
    public IDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Sent as <c>grpc-timeout</c>; when it runs out the call fails with DEADLINE_EXCEEDED.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Cancels the call (RST_STREAM CANCEL to the server); the call then fails with CANCELLED.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>When set, the call adds the trailing metadata it receives (other than grpc-*) here, OK or not.</summary>
    public IDictionary<string, string>? ResponseTrailers { get; set; }
}
