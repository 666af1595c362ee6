using System.IO.Pipelines;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc.Server;

/// <summary>Writes response messages into the response body pipe, one flush per message.</summary>
internal sealed class GrpcResponseStreamWriter<T> : IGrpcStreamWriter<T>
    where T : IMessage<T>
{
    private readonly GrpcCallContext _call;
    private readonly int _maxMessageSize;
    private bool _writing;

    public GrpcResponseStreamWriter(GrpcCallContext call, int maxMessageSize)
    {
        _call = call;
        _maxMessageSize = maxMessageSize;
    }

    /// <summary>Set once the handler has returned: writes after that are a bug in the handler.</summary>
    public bool Completed { get; set; }

    public async Task WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Completed)
        {
            throw new InvalidOperationException($"Cannot write to the response of {_call.Method} after the handler has returned.");
        }

        if (_writing)
        {
            throw new InvalidOperationException($"Cannot write to the response of {_call.Method}: a previous write has not completed.");
        }

        _call.CancellationToken.ThrowIfCancellationRequested();
        cancellationToken.ThrowIfCancellationRequested();

        _writing = true;
        try
        {
            PipeWriter body = _call.HttpContext.Response.BodyWriter;
            GrpcFraming.WriteMessage(body, message, _maxMessageSize);
            _call.ResponseMessageWritten = true;
            CancellationToken token = cancellationToken.CanBeCanceled ? cancellationToken : _call.CancellationToken;
            FlushResult result = await body.FlushAsync(token).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The response write was canceled.");
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
