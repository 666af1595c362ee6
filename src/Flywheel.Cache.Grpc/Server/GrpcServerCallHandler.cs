using Flywheel.Cache.Grpc.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Grpc.Server;

/// <summary>
/// What every gRPC call goes through, whatever its kind: checks the request (HTTP/2, content type,
/// encoding), sets up deadline and cancellation, runs the method, maps the outcome to a status and
/// sends it (trailers, or trailers-only when no message was sent).
/// </summary>
internal abstract partial class GrpcServerCallHandler
{
    private static readonly TimeSpan MaxTimerTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    protected GrpcServerCallHandler(string method, GrpcServerOptions options, ILogger logger)
    {
        Method = method;
        Options = options;
        Logger = logger;
    }

    public string Method { get; }

    protected GrpcServerOptions Options { get; }

    protected ILogger Logger { get; }

    /// <summary>Client streaming calls may sit idle between messages; Kestrel's minimum data rate is lifted for them.</summary>
    protected abstract bool IsClientStreaming { get; }

    /// <summary>Reads the request, runs the handler, writes response messages. Status is the caller's business.</summary>
    protected abstract Task InvokeAsync(GrpcCallContext call);

    public async Task HandleAsync(HttpContext http)
    {
        HttpRequest request = http.Request;
        HttpResponse response = http.Response;

        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            response.StatusCode = StatusCodes.Status426UpgradeRequired;
            response.Headers.Upgrade = "h2c";
            response.Headers.Connection = "Upgrade";
            WriteRejection(response, $"Request protocol '{request.Protocol}' is not supported: gRPC needs HTTP/2.");
            return;
        }

        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            WriteRejection(response, $"Content-Type '{request.ContentType}' is not supported: use 'application/grpc'.");
            return;
        }

        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.IdentityEncoding;

        string? encoding = request.Headers[GrpcProtocol.EncodingHeader];
        if (!string.IsNullOrEmpty(encoding) && !string.Equals(encoding, GrpcProtocol.IdentityEncoding, StringComparison.OrdinalIgnoreCase))
        {
            WriteTrailersOnly(response, GrpcStatusCode.Unimplemented, $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: identity", null, null);
            return;
        }

        // Streamed uploads are as large as the blobs they carry; the message size limit bounds memory instead.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBody)
        {
            maxBody.MaxRequestBodySize = null;
        }

        if (IsClientStreaming && http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minRate)
        {
            minRate.MinDataRate = null;
        }

        TimeSpan? timeout = ReadTimeout(request);
        using var deadlineSource = timeout is { } t ? new CancellationTokenSource(t) : null;
        using var callSource = deadlineSource is null
            ? null
            : CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, deadlineSource.Token);
        CancellationToken callToken = callSource?.Token ?? http.RequestAborted;
        DateTimeOffset? deadline = timeout is { } d ? DateTimeOffset.UtcNow + d : null;

        var call = new GrpcCallContext(http, Method, callToken, deadline);
        GrpcStatusCode status;
        string? message;
        byte[]? details = null;
        try
        {
            await InvokeAsync(call).ConfigureAwait(false);
            status = GrpcStatusCode.OK;
            message = null;
        }
        catch (Exception ex) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client is gone: nobody is left to tell. Not an error of ours.
            LogClientCancelled(Logger, Method, ex.GetType().Name);
            return;
        }
        catch (GrpcException ex)
        {
            status = ex.Status;
            message = ex.Message;
            details = ex.Details;
        }
        catch (Exception ex) when (deadlineSource?.IsCancellationRequested == true)
        {
            LogDeadlineExceeded(Logger, Method, timeout!.Value.TotalMilliseconds, ex.GetType().Name);
            status = GrpcStatusCode.DeadlineExceeded;
            message = "Deadline exceeded.";
        }
        catch (Exception ex) when (Options.ExceptionMapper?.Invoke(ex) is { } mapped)
        {
            status = mapped.Status;
            message = mapped.Message;
        }
        catch (Exception ex)
        {
            LogHandlerFailed(Logger, ex, Method);
            status = GrpcStatusCode.Unknown;
            message = "Exception was thrown by handler.";
        }

        if (call.ResponseMessageWritten || response.HasStarted)
        {
            WriteTrailers(response, status, message, details, call.ResponseTrailers);
        }
        else
        {
            WriteTrailersOnly(response, status, message, details, call.ResponseTrailers);
        }
    }

    private TimeSpan? ReadTimeout(HttpRequest request)
    {
        string? value = request.Headers[GrpcProtocol.TimeoutHeader];
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (GrpcTimeout.TryParse(value, out TimeSpan timeout))
        {
            // Timers reach ~49 days; a longer timeout (up to 99999999H is legal) is as good as none.
            return timeout < MaxTimerTimeout ? timeout : null;
        }

        LogBadTimeout(Logger, Method, value);
        return null;
    }

    /// <summary>A non-gRPC request to a gRPC endpoint: HTTP error status, plus grpc-status for gRPC clients.</summary>
    private static void WriteRejection(HttpResponse response, string message)
    {
        response.Headers[GrpcProtocol.StatusHeader] = ((int)GrpcStatusCode.Internal).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers[GrpcProtocol.MessageHeader] = GrpcPercentEncoding.Encode(message);
    }

    /// <summary>Status in the response headers of a response without body: Kestrel sends one HEADERS frame with END_STREAM.</summary>
    internal static void WriteTrailersOnly(
        HttpResponse response,
        GrpcStatusCode status,
        string? message,
        byte[]? details,
        IReadOnlyList<KeyValuePair<string, string>>? trailers)
    {
        response.ContentType = GrpcProtocol.ContentType;
        IHeaderDictionary headers = response.Headers;
        headers[GrpcProtocol.StatusHeader] = StatusText(status);
        if (!string.IsNullOrEmpty(message))
        {
            headers[GrpcProtocol.MessageHeader] = GrpcPercentEncoding.Encode(message);
        }

        if (details is not null)
        {
            headers[GrpcProtocol.StatusDetailsHeader] = GrpcBinaryMetadata.Encode(details);
        }

        if (trailers is not null)
        {
            foreach (KeyValuePair<string, string> trailer in trailers)
            {
                headers.Append(trailer.Key, trailer.Value);
            }
        }
    }

    private static void WriteTrailers(
        HttpResponse response,
        GrpcStatusCode status,
        string? message,
        byte[]? details,
        IReadOnlyList<KeyValuePair<string, string>>? trailers)
    {
        response.AppendTrailer(GrpcProtocol.StatusHeader, StatusText(status));
        if (!string.IsNullOrEmpty(message))
        {
            response.AppendTrailer(GrpcProtocol.MessageHeader, GrpcPercentEncoding.Encode(message));
        }

        if (details is not null)
        {
            response.AppendTrailer(GrpcProtocol.StatusDetailsHeader, GrpcBinaryMetadata.Encode(details));
        }

        if (trailers is not null)
        {
            foreach (KeyValuePair<string, string> trailer in trailers)
            {
                response.AppendTrailer(trailer.Key, trailer.Value);
            }
        }
    }

    private static string StatusText(GrpcStatusCode status) => status switch
    {
        GrpcStatusCode.OK => "0",
        GrpcStatusCode.NotFound => "5",
        _ => ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "gRPC call {Method} failed: the handler threw")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string method);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "gRPC call {Method} cancelled by the client ({ExceptionType})")]
    private static partial void LogClientCancelled(ILogger logger, string method, string exceptionType);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "gRPC call {Method} exceeded its deadline of {TimeoutMs} ms ({ExceptionType})")]
    private static partial void LogDeadlineExceeded(ILogger logger, string method, double timeoutMs, string exceptionType);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "gRPC call {Method} has a malformed grpc-timeout '{Value}'; ignored")]
    private static partial void LogBadTimeout(ILogger logger, string method, string value);
}
