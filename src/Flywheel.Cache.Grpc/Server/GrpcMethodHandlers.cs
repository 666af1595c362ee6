using System.Buffers;
using System.Runtime.CompilerServices;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Grpc.Server;

/// <summary>Unary: exactly one request message (read to end of stream first), exactly one response.</summary>
internal sealed class UnaryCallHandler<TRequest, TResponse>(
    string method,
    GrpcServerOptions options,
    ILogger logger,
    MessageParser<TRequest> parser,
    Func<TRequest, GrpcCallContext, Task<TResponse>> handler)
    : GrpcServerCallHandler(method, options, logger)
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    protected override bool IsClientStreaming => false;

    protected override async Task InvokeAsync(GrpcCallContext call)
    {
        var reader = new GrpcMessageReader(call.HttpContext.Request.BodyReader, Options.MaxReceiveMessageSize);
        TRequest request = await GrpcRequestReading.ReadSingleAsync(reader, parser, call.CancellationToken).ConfigureAwait(false);

        TResponse response = await handler(request, call).ConfigureAwait(false);
        if (response is null)
        {
            throw new InvalidOperationException($"The handler of {Method} returned no response message.");
        }

        // A handler that ignored its token past the deadline does not get to answer OK.
        call.CancellationToken.ThrowIfCancellationRequested();
        GrpcFraming.WriteMessage(call.HttpContext.Response.BodyWriter, response, Options.MaxSendMessageSize);
        call.ResponseMessageWritten = true;
    }
}

/// <summary>
/// Unary with self-decoded request and self-encoded response (<see cref="IGrpcPayload"/>); either is disposed
/// after the call when it is <see cref="IDisposable"/> (e.g. to return pooled buffers).
/// </summary>
internal sealed class RawUnaryCallHandler<TRequest>(
    string method,
    GrpcServerOptions options,
    ILogger logger,
    Func<ReadOnlySequence<byte>, TRequest> decode,
    Func<TRequest, GrpcCallContext, Task<IGrpcPayload>> handler)
    : GrpcServerCallHandler(method, options, logger)
{
    protected override bool IsClientStreaming => false;

    protected override async Task InvokeAsync(GrpcCallContext call)
    {
        var reader = new GrpcMessageReader(call.HttpContext.Request.BodyReader, Options.MaxReceiveMessageSize);
        TRequest request = await GrpcRequestReading.ReadSingleAsync(reader, decode, call.CancellationToken).ConfigureAwait(false);
        IGrpcPayload? response = null;
        try
        {
            response = await handler(request, call).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The handler of {Method} returned no response message.");
            call.CancellationToken.ThrowIfCancellationRequested();
            GrpcFraming.WritePayload(call.HttpContext.Response.BodyWriter, response, Options.MaxSendMessageSize);
            call.ResponseMessageWritten = true;
        }
        finally
        {
            (response as IDisposable)?.Dispose();
            if (!ReferenceEquals(response, request))
            {
                (request as IDisposable)?.Dispose();
            }
        }
    }
}

/// <summary>Server streaming: one request message, any number of response messages.</summary>
internal sealed class ServerStreamingCallHandler<TRequest, TResponse>(
    string method,
    GrpcServerOptions options,
    ILogger logger,
    MessageParser<TRequest> parser,
    Func<TRequest, IGrpcStreamWriter<TResponse>, GrpcCallContext, Task> handler)
    : GrpcServerCallHandler(method, options, logger)
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    protected override bool IsClientStreaming => false;

    protected override async Task InvokeAsync(GrpcCallContext call)
    {
        var reader = new GrpcMessageReader(call.HttpContext.Request.BodyReader, Options.MaxReceiveMessageSize);
        TRequest request = await GrpcRequestReading.ReadSingleAsync(reader, parser, call.CancellationToken).ConfigureAwait(false);

        var writer = new GrpcResponseStreamWriter<TResponse>(call, Options.MaxSendMessageSize);
        try
        {
            await handler(request, writer, call).ConfigureAwait(false);
        }
        finally
        {
            writer.Completed = true;
        }
    }
}

/// <summary>Client streaming: request messages handed to the handler lazily, one at a time; one response.</summary>
internal sealed class ClientStreamingCallHandler<TRequest, TResponse>(
    string method,
    GrpcServerOptions options,
    ILogger logger,
    MessageParser<TRequest> parser,
    Func<IAsyncEnumerable<TRequest>, GrpcCallContext, Task<TResponse>> handler)
    : GrpcServerCallHandler(method, options, logger)
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    protected override bool IsClientStreaming => true;

    protected override async Task InvokeAsync(GrpcCallContext call)
    {
        var reader = new GrpcMessageReader(call.HttpContext.Request.BodyReader, Options.MaxReceiveMessageSize);
        TResponse response = await handler(GrpcRequestReading.ReadAllAsync(reader, parser, call.CancellationToken), call).ConfigureAwait(false);
        if (response is null)
        {
            throw new InvalidOperationException($"The handler of {Method} returned no response message.");
        }

        call.CancellationToken.ThrowIfCancellationRequested();
        GrpcFraming.WriteMessage(call.HttpContext.Response.BodyWriter, response, Options.MaxSendMessageSize);
        call.ResponseMessageWritten = true;
    }
}

internal static class GrpcRequestReading
{
    /// <summary>
    /// Reads the one request message of a unary or server-streaming call, up to end of stream.
    /// None or more than one is a cardinality violation: UNIMPLEMENTED, as the status code table says.
    /// </summary>
    public static Task<T> ReadSingleAsync<T>(GrpcMessageReader reader, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : IMessage<T> =>
        ReadSingleAsync(reader, parser, static (p, payload) => GrpcMessageReader.Parse(p, payload), cancellationToken);

    /// <summary>As above with a decoder of the caller's; a second message is decoded too (and disposed) before refusing.</summary>
    public static Task<T> ReadSingleAsync<T>(GrpcMessageReader reader, Func<ReadOnlySequence<byte>, T> decode, CancellationToken cancellationToken) =>
        ReadSingleAsync(reader, decode, static (d, payload) => d(payload), cancellationToken);

    private static async Task<T> ReadSingleAsync<TState, T>(
        GrpcMessageReader reader, TState state, Func<TState, ReadOnlySequence<byte>, T> decode, CancellationToken cancellationToken)
    {
        (bool hasMessage, T message) = await reader.ReadAsync(state, decode, cancellationToken).ConfigureAwait(false);
        if (!hasMessage)
        {
            throw new GrpcException(GrpcStatusCode.Unimplemented, "Request cardinality violation: no request message received, expected exactly one.");
        }

        (bool another, T extra) = await reader.ReadAsync(state, decode, cancellationToken).ConfigureAwait(false);
        if (another)
        {
            (extra as IDisposable)?.Dispose();
            (message as IDisposable)?.Dispose();
            throw new GrpcException(GrpcStatusCode.Unimplemented, "Request cardinality violation: more than one request message received, expected exactly one.");
        }

        return message;
    }

    /// <summary>The request stream of a client-streaming call; each MoveNextAsync reads one message off the body pipe.</summary>
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(
        GrpcMessageReader reader,
        MessageParser<T> parser,
        CancellationToken callToken,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
        where T : IMessage<T>
    {
        using CancellationTokenSource? linked = cancellationToken.CanBeCanceled && cancellationToken != callToken
            ? CancellationTokenSource.CreateLinkedTokenSource(callToken, cancellationToken)
            : null;
        CancellationToken token = linked?.Token ?? callToken;
        while (true)
        {
            (bool hasMessage, T message) = await reader.ReadAsync(parser, token).ConfigureAwait(false);
            if (!hasMessage)
            {
                yield break;
            }

            yield return message;
        }
    }
}
