using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc.Client;

/// <summary>
/// A request body of length-prefixed messages: one message, or a stream written message by message
/// as the caller produces it (never gathered whole).
/// </summary>
internal sealed class GrpcRequestContent<T> : HttpContent
    where T : IMessage<T>
{
    private static readonly MediaTypeHeaderValue GrpcContentType = new(GrpcProtocol.ContentType);

    private readonly T? _single;
    private readonly IAsyncEnumerable<T>? _stream;
    private readonly int _maxMessageSize;
    private readonly CancellationToken _cancellationToken;

    public GrpcRequestContent(T single, int maxMessageSize)
    {
        _single = single;
        _maxMessageSize = maxMessageSize;
        Headers.ContentType = GrpcContentType;
    }

    public GrpcRequestContent(IAsyncEnumerable<T> stream, int maxMessageSize, CancellationToken cancellationToken)
    {
        _stream = stream;
        _maxMessageSize = maxMessageSize;
        _cancellationToken = cancellationToken;
        Headers.ContentType = GrpcContentType;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        PipeWriter writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        try
        {
            if (_stream is null)
            {
                GrpcFraming.WriteMessage(writer, _single!, _maxMessageSize);
                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                return;
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _cancellationToken);
            await foreach (T message in _stream.WithCancellation(linked.Token).ConfigureAwait(false))
            {
                GrpcFraming.WriteMessage(writer, message, _maxMessageSize);
                await writer.FlushAsync(linked.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        if (_stream is null)
        {
            length = GrpcFraming.HeaderSize + _single!.CalculateSize();
            return true;
        }

        length = 0;
        return false;
    }
}
