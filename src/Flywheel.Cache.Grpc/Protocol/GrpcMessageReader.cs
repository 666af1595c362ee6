using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc.Protocol;

/// <summary>
/// Reads length-prefixed messages one at a time from a <see cref="PipeReader"/> (request body on the
/// server, response body on the client). Only the message being read is buffered; the rest stays with
/// the transport and its flow control.
/// </summary>
internal sealed class GrpcMessageReader
{
    private readonly PipeReader _reader;
    private readonly int _maxMessageSize;

    public GrpcMessageReader(PipeReader reader, int maxMessageSize)
    {
        _reader = reader;
        _maxMessageSize = maxMessageSize;
    }

    /// <summary>
    /// Reads the next message; returns false at a clean end of stream. Throws <see cref="GrpcException"/>
    /// INTERNAL for a stream ending mid-message or an unparsable message, RESOURCE_EXHAUSTED for an
    /// oversized one.
    /// </summary>
    public ValueTask<(bool HasMessage, T Message)> ReadAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : IMessage<T> =>
        ReadAsync(parser, static (p, payload) => Parse(p, payload), cancellationToken);

    /// <summary>
    /// Reads the next message and hands its bytes to <paramref name="decode"/>, which must take what it keeps: the
    /// bytes belong to the pipe and are released when it returns.
    /// </summary>
    public async ValueTask<(bool HasMessage, T Message)> ReadAsync<TState, T>(
        TState state, Func<TState, ReadOnlySequence<byte>, T> decode, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            bool consumedMessage = false;
            try
            {
                if (GrpcFraming.TryReadMessage(ref buffer, _maxMessageSize, out ReadOnlySequence<byte> payload))
                {
                    consumedMessage = true;
                    return (true, decode(state, payload));
                }

                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("The read was canceled.");
                }

                if (result.IsCompleted)
                {
                    if (buffer.IsEmpty)
                    {
                        return (false, default!);
                    }

                    throw new GrpcException(
                        GrpcStatusCode.Internal,
                        $"Incomplete message: the stream ended with {buffer.Length} bytes of a message unread.");
                }
            }
            finally
            {
                // After a whole message: consume it. Otherwise: consume nothing, but mark all as examined
                // so the next ReadAsync waits for more bytes.
                if (consumedMessage)
                {
                    _reader.AdvanceTo(buffer.Start);
                }
                else
                {
                    _reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
    }

    /// <summary>Parses with protobuf; a malformed message is INTERNAL, as gRPC reports parse failures.</summary>
    public static T Parse<T>(MessageParser<T> parser, ReadOnlySequence<byte> payload)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "Error parsing message: " + ex.Message);
        }
    }
}
