using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// The one place where errors become gRPC statuses, as the server-wide interceptor: the core's
/// <see cref="CacheException"/> keeps its (short) message under the status its <see cref="CacheError"/> maps to;
/// <see cref="RpcException"/> and cancellation (deadline, client gone) pass through to Grpc.AspNetCore; anything else
/// is a bug or an unexpected failure: logged with the method, answered INTERNAL with a generic message.
/// </summary>
public sealed class GrpcErrorMapping : Interceptor
{
    private readonly ILogger<GrpcErrorMapping> _logger;

    public GrpcErrorMapping(ILogger<GrpcErrorMapping> logger)
    {
        _logger = logger;
    }

    public static StatusCode ToStatusCode(CacheError error) => error switch
    {
        CacheError.NotFound => StatusCode.NotFound,
        CacheError.Invalid => StatusCode.InvalidArgument,
        CacheError.TooLarge => StatusCode.InvalidArgument,
        CacheError.Quota => StatusCode.ResourceExhausted,
        CacheError.Unauthenticated => StatusCode.Unauthenticated,
        CacheError.Forbidden => StatusCode.PermissionDenied,
        CacheError.Conflict => StatusCode.AlreadyExists,
        CacheError.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>The longest status message sent: the message travels in an HTTP/2 trailer, and a longer one could outgrow a client's header limit.</summary>
    public const int MaxMessageLength = 1024;

    public static RpcException ToRpcException(CacheException e) =>
        new(new Status(ToStatusCode(e.Error), e.Message.Length <= MaxMessageLength ? e.Message : string.Concat(e.Message.AsSpan(0, MaxMessageLength), "…")));

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>The status to answer with, or null to let Grpc.AspNetCore answer (its own statuses, cancellation).</summary>
    private RpcException? Map(Exception exception, ServerCallContext context)
    {
        switch (exception)
        {
            case CacheException e:
                return ToRpcException(e);
            case RpcException:
                return null;
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                return null; // deadline or client cancellation: Grpc.AspNetCore answers DEADLINE_EXCEEDED / CANCELLED
            default:
                _logger.LogError(exception, "gRPC {Method} failed unexpectedly", context.Method);
                return new RpcException(new Status(StatusCode.Internal, "internal error; the server log has the details"));
        }
    }
}
