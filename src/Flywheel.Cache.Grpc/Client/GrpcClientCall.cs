using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc.Client;

/// <summary>
/// One call on the client side: sends the request, reads response messages, reads the status from the
/// trailers (or from the headers of a trailers-only response), and turns every failure into a
/// <see cref="GrpcException"/>.
/// </summary>
internal sealed class GrpcClientCall : IDisposable
{
    private readonly HttpClient _http;
    private readonly GrpcCallOptions? _options;
    private readonly int _maxReceiveMessageSize;
    private readonly CancellationTokenSource? _deadline;
    private readonly CancellationTokenSource _callSource;
    private HttpResponseMessage? _response;
    private GrpcMessageReader? _reader;
    private bool _trailersOnly;

    private readonly CancellationToken _enumeratorToken;

    public GrpcClientCall(HttpClient http, GrpcCallOptions? options, int maxReceiveMessageSize, CancellationToken enumeratorToken = default)
    {
        _enumeratorToken = enumeratorToken;
        _http = http;
        _options = options;
        _maxReceiveMessageSize = maxReceiveMessageSize;
        _deadline = options?.Timeout is { } timeout ? new CancellationTokenSource(timeout) : null;
        _callSource = CancellationTokenSource.CreateLinkedTokenSource(
            options?.CancellationToken ?? CancellationToken.None,
            _deadline?.Token ?? CancellationToken.None,
            enumeratorToken);
    }

    public CancellationToken Token => _callSource.Token;

    public async Task StartAsync(string method, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, method.TrimStart('/'))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        if (_options?.Timeout is { } timeout)
        {
            request.Headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(timeout));
        }

        if (_options is not null)
        {
            foreach ((string name, string value) in _options.Headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        try
        {
            _response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Token).ConfigureAwait(false);
            CheckResponseHeaders(_response);
            if (!_trailersOnly)
            {
                Stream body = await _response.Content.ReadAsStreamAsync(Token).ConfigureAwait(false);
                _reader = new GrpcMessageReader(PipeReader.Create(body), _maxReceiveMessageSize);
            }
        }
        catch (Exception ex) when (ex is not GrpcException)
        {
            throw Translate(ex);
        }
    }

    /// <summary>The next response message; false at end of stream (the status is read by <see cref="FinishAsync"/>).</summary>
    public async Task<(bool HasMessage, T Message)> ReadAsync<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        if (_reader is null)
        {
            return (false, default!);
        }

        try
        {
            return await _reader.ReadAsync(parser, Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not GrpcException || _deadline?.IsCancellationRequested == true)
        {
            throw Translate(ex);
        }
    }

    /// <summary>Reads the status; throws <see cref="GrpcException"/> unless it is OK.</summary>
    public void Finish()
    {
        HttpResponseMessage response = _response!;
        HttpHeaders statusHeaders = _trailersOnly ? response.Headers : response.TrailingHeaders;
        CopyTrailers(statusHeaders);
        GrpcException? error = ReadStatus(statusHeaders, out bool found);
        if (!found)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "The response ended without a grpc-status trailer.");
        }

        if (error is not null)
        {
            throw error;
        }
    }

    public void Dispose()
    {
        _response?.Dispose();
        _callSource.Dispose();
        _deadline?.Dispose();
    }

    private void CheckResponseHeaders(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            GrpcException? fromHeaders = ReadStatus(response.Headers, out bool found);
            throw new GrpcException(
                MapHttpStatus(response.StatusCode),
                $"Bad gRPC response: HTTP status {(int)response.StatusCode}" + (found && fromHeaders is not null ? $" ({fromHeaders.Status}: {fromHeaders.Message})" : "") + ".");
        }

        if (response.Headers.Contains(GrpcProtocol.StatusHeader))
        {
            _trailersOnly = true;
            return;
        }

        string? contentType = response.Content.Headers.ContentType?.ToString();
        if (!GrpcProtocol.IsGrpcContentType(contentType) && contentType?.StartsWith(GrpcProtocol.ContentType, StringComparison.OrdinalIgnoreCase) != true)
        {
            throw new GrpcException(GrpcStatusCode.Internal, $"Bad gRPC response: content type '{contentType}'.");
        }
    }

    private void CopyTrailers(HttpHeaders headers)
    {
        if (_options?.ResponseTrailers is not { } sink)
        {
            return;
        }

        foreach (KeyValuePair<string, IEnumerable<string>> header in headers)
        {
            if (!header.Key.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase)
                && !string.Equals(header.Key, "content-type", StringComparison.OrdinalIgnoreCase))
            {
                sink[header.Key] = string.Join(',', header.Value);
            }
        }
    }

    private static GrpcException? ReadStatus(HttpHeaders headers, out bool found)
    {
        found = false;
        if (!headers.TryGetValues(GrpcProtocol.StatusHeader, out IEnumerable<string>? statusValues))
        {
            return null;
        }

        found = true;
        string statusText = statusValues.FirstOrDefault() ?? "";
        if (!int.TryParse(statusText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int code))
        {
            return new GrpcException(GrpcStatusCode.Unknown, $"Unparsable grpc-status '{statusText}'.");
        }

        if (code == 0)
        {
            return null;
        }

        string message = headers.TryGetValues(GrpcProtocol.MessageHeader, out IEnumerable<string>? messages)
            ? GrpcPercentEncoding.Decode(messages.FirstOrDefault() ?? "")
            : "";
        byte[]? details = headers.TryGetValues(GrpcProtocol.StatusDetailsHeader, out IEnumerable<string>? detailValues)
            ? GrpcBinaryMetadata.Decode(string.Join(',', detailValues))
            : null;
        GrpcStatusCode status = code is >= 0 and <= 16 ? (GrpcStatusCode)code : GrpcStatusCode.Unknown;
        return new GrpcException(status, message, details);
    }

    /// <summary>Per gRPC's HTTP-to-gRPC status mapping, for responses that are not gRPC at all.</summary>
    private static GrpcStatusCode MapHttpStatus(HttpStatusCode status) => (int)status switch
    {
        400 => GrpcStatusCode.Internal,
        401 => GrpcStatusCode.Unauthenticated,
        403 => GrpcStatusCode.PermissionDenied,
        404 => GrpcStatusCode.Unimplemented,
        429 or 502 or 503 or 504 => GrpcStatusCode.Unavailable,
        _ => GrpcStatusCode.Unknown,
    };

    private GrpcException Translate(Exception ex)
    {
        if (_deadline?.IsCancellationRequested == true)
        {
            return new GrpcException(GrpcStatusCode.DeadlineExceeded, "Deadline exceeded.");
        }

        if (_options?.CancellationToken.IsCancellationRequested == true || _enumeratorToken.IsCancellationRequested)
        {
            return new GrpcException(GrpcStatusCode.Cancelled, "Call cancelled by the client.");
        }

        return ex switch
        {
            GrpcException grpc => grpc,
            HttpRequestException http => new GrpcException(GrpcStatusCode.Unavailable, "Error starting gRPC call: " + http.Message),
            IOException io => new GrpcException(GrpcStatusCode.Unavailable, "Error reading gRPC response: " + io.Message),
            OperationCanceledException => new GrpcException(GrpcStatusCode.Cancelled, "Call cancelled."),
            _ => new GrpcException(GrpcStatusCode.Internal, $"gRPC call failed: {ex.GetType().Name}: {ex.Message}"),
        };
    }
}
