using System.Net;
using System.Runtime.CompilerServices;
using Flywheel.Cache.Grpc.Client;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc;

/// <summary>
/// A minimal gRPC client over <see cref="HttpClient"/>, HTTP/2 only (cleartext with prior knowledge
/// for http:// addresses). For tests and benchmarks. Non-OK status → <see cref="GrpcException"/>.
/// </summary>
public sealed class GrpcClient : IDisposable
{
    private readonly HttpClient _http;

    public GrpcClient(Uri baseAddress, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = baseAddress;
        _http.DefaultRequestVersion = HttpVersion.Version20;
        _http.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        _http.Timeout = Timeout.InfiniteTimeSpan;
    }

    /// <summary>Largest response message accepted (default 16 MiB); larger → RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcServerOptions.DefaultMaxMessageSize;

    /// <summary>Largest request message sent (default 16 MiB); larger → RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = GrpcServerOptions.DefaultMaxMessageSize;

    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(
        string method,
        TRequest request,
        MessageParser<TResponse> parser,
        GrpcCallOptions? options = null)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        using var call = new GrpcClientCall(_http, options, MaxReceiveMessageSize);
        await call.StartAsync(method, new GrpcRequestContent<TRequest>(request, MaxSendMessageSize)).ConfigureAwait(false);
        return await ReadSingleResponseAsync(call, parser).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<TResponse> ServerStreamingAsync<TRequest, TResponse>(
        string method,
        TRequest request,
        MessageParser<TResponse> parser,
        GrpcCallOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        using var call = new GrpcClientCall(_http, options, MaxReceiveMessageSize, cancellationToken);
        await call.StartAsync(method, new GrpcRequestContent<TRequest>(request, MaxSendMessageSize)).ConfigureAwait(false);
        while (true)
        {
            (bool hasMessage, TResponse message) = await call.ReadAsync(parser).ConfigureAwait(false);
            if (!hasMessage)
            {
                break;
            }

            yield return message;
        }

        call.Finish();
    }

    /// <summary>Sends <paramref name="requests"/> as they are produced (one DATA write per message), then reads the one response.</summary>
    public async Task<TResponse> ClientStreamingAsync<TRequest, TResponse>(
        string method,
        IAsyncEnumerable<TRequest> requests,
        MessageParser<TResponse> parser,
        GrpcCallOptions? options = null)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(requests);
        using var call = new GrpcClientCall(_http, options, MaxReceiveMessageSize);
        await call.StartAsync(method, new GrpcRequestContent<TRequest>(requests, MaxSendMessageSize, call.Token)).ConfigureAwait(false);
        return await ReadSingleResponseAsync(call, parser).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();

    private static async Task<TResponse> ReadSingleResponseAsync<TResponse>(GrpcClientCall call, MessageParser<TResponse> parser)
        where TResponse : IMessage<TResponse>
    {
        (bool hasMessage, TResponse response) = await call.ReadAsync(parser).ConfigureAwait(false);
        bool another = hasMessage && (await call.ReadAsync(parser).ConfigureAwait(false)).HasMessage;
        call.Finish();
        if (!hasMessage || another)
        {
            throw new GrpcException(GrpcStatusCode.Unimplemented, "Response cardinality violation: expected exactly one response message.");
        }

        return response;
    }
}
