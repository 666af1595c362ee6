namespace Flywheel.Cache.Grpc;

/// <summary>Writes the response messages of a server-streaming call; each write is flushed to the client.</summary>
public interface IGrpcStreamWriter<in T>
{
    /// <summary>Sends one message. Throws when the call is cancelled (client gone, deadline passed).</summary>
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}
