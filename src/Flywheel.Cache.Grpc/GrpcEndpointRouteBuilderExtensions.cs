using Flywheel.Cache.Grpc.Server;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Flywheel.Cache.Grpc;

/// <summary>
/// Maps gRPC methods to endpoints: POST "/package.Service/Method". Needs
/// <see cref="GrpcServiceCollectionExtensions.AddGrpcLayer"/>; the options are read when mapping.
/// </summary>
public static class GrpcEndpointRouteBuilderExtensions
{
    private const string LoggerCategory = "Flywheel.Cache.Grpc.Server";

    public static IEndpointConventionBuilder MapGrpcUnary<TRequest, TResponse>(
        this IEndpointRouteBuilder endpoints,
        string method,
        MessageParser<TRequest> parser,
        Func<TRequest, GrpcCallContext, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(handler);
        (GrpcServerOptions options, ILogger logger) = Resolve(endpoints, method);
        return Map(endpoints, new UnaryCallHandler<TRequest, TResponse>(method, options, logger, parser, handler));
    }

    /// <summary>
    /// A unary method whose request the caller decodes from the message bytes (<paramref name="decode"/> must copy
    /// what it keeps) and whose response it encodes itself: for hot methods where message objects cost more than the
    /// work. A request or response that is <see cref="IDisposable"/> is disposed after the call.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcUnaryRaw<TRequest>(
        this IEndpointRouteBuilder endpoints,
        string method,
        Func<System.Buffers.ReadOnlySequence<byte>, TRequest> decode,
        Func<TRequest, GrpcCallContext, Task<IGrpcPayload>> handler)
    {
        ArgumentNullException.ThrowIfNull(decode);
        ArgumentNullException.ThrowIfNull(handler);
        (GrpcServerOptions options, ILogger logger) = Resolve(endpoints, method);
        return Map(endpoints, new RawUnaryCallHandler<TRequest>(method, options, logger, decode, handler));
    }

    public static IEndpointConventionBuilder MapGrpcServerStreaming<TRequest, TResponse>(
        this IEndpointRouteBuilder endpoints,
        string method,
        MessageParser<TRequest> parser,
        Func<TRequest, IGrpcStreamWriter<TResponse>, GrpcCallContext, Task> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(handler);
        (GrpcServerOptions options, ILogger logger) = Resolve(endpoints, method);
        return Map(endpoints, new ServerStreamingCallHandler<TRequest, TResponse>(method, options, logger, parser, handler));
    }

    /// <summary>
    /// The handler gets the request messages as a lazily read stream: each message is read off the
    /// connection when the handler asks for it, so a large upload is never held whole. Enumerate it once.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcClientStreaming<TRequest, TResponse>(
        this IEndpointRouteBuilder endpoints,
        string method,
        MessageParser<TRequest> parser,
        Func<IAsyncEnumerable<TRequest>, GrpcCallContext, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(handler);
        (GrpcServerOptions options, ILogger logger) = Resolve(endpoints, method);
        return Map(endpoints, new ClientStreamingCallHandler<TRequest, TResponse>(method, options, logger, parser, handler));
    }

    /// <summary>
    /// Answers any other POST with a gRPC content type with UNIMPLEMENTED (trailers-only). Requests with
    /// other content types do not match it and get the host's usual 404.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcFallback(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        RequireLayer(endpoints);
        return endpoints
            .MapMethods("/{**path}", [HttpMethods.Post], static context =>
            {
                GrpcServerCallHandler.WriteTrailersOnly(
                    context.Response,
                    GrpcStatusCode.Unimplemented,
                    $"Method is unimplemented: '{context.Request.Path}'.",
                    details: null,
                    trailers: null);
                return Task.CompletedTask;
            })
            .WithOrder(int.MaxValue)
            .WithMetadata(GrpcFallbackMetadata.Instance)
            .WithDisplayName("gRPC fallback (UNIMPLEMENTED)");
    }

    private static IEndpointConventionBuilder Map(IEndpointRouteBuilder endpoints, GrpcServerCallHandler handler) =>
        endpoints
            .MapMethods(handler.Method, [HttpMethods.Post], handler.HandleAsync)
            .WithDisplayName("gRPC " + handler.Method);

    private static (GrpcServerOptions Options, ILogger Logger) Resolve(IEndpointRouteBuilder endpoints, string method)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (string.IsNullOrEmpty(method) || method[0] != '/' || method.IndexOf('/', 1) < 0)
        {
            throw new ArgumentException($"A gRPC method is named \"/package.Service/Method\", not '{method}'.", nameof(method));
        }

        RequireLayer(endpoints);
        GrpcServerOptions options = endpoints.ServiceProvider.GetRequiredService<IOptions<GrpcServerOptions>>().Value;
        ILogger logger = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerCategory);
        return (options, logger);
    }

    private static void RequireLayer(IEndpointRouteBuilder endpoints)
    {
        bool registered = endpoints.ServiceProvider.GetServices<MatcherPolicy>().Any(p => p is GrpcFallbackMatcherPolicy);
        if (!registered)
        {
            throw new InvalidOperationException("The gRPC layer is not registered: call services.AddGrpcLayer() first.");
        }
    }
}
