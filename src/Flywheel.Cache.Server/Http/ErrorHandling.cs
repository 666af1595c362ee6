using Flywheel.Cache.Server.Metrics;
using Microsoft.AspNetCore.Http.Features;

namespace Flywheel.Cache.Server.Http;

/// <summary>
/// Turns exceptions into the answers clients expect: a <see cref="CacheException"/> becomes its status code
/// with its message (plain text for the Nix and Bazel routes, problem details under <c>/_api/</c>); anything
/// else is logged with the request and answered 500 without internals. Nothing is swallowed.
/// </summary>
public sealed class ErrorHandling
{
    // Indexed by CacheError: the label values of flywheel_uploads_rejected_total.
    private static readonly string[] RejectionReasons =
        ["not_found", "invalid", "too_large", "quota", "unauthenticated", "forbidden", "conflict", "unavailable"];

    private readonly RequestDelegate _next;
    private readonly ILogger<ErrorHandling> _logger;
    private readonly FlywheelMetrics _metrics;

    public ErrorHandling(RequestDelegate next, ILogger<ErrorHandling> logger, FlywheelMetrics metrics)
    {
        _next = next;
        _logger = logger;
        _metrics = metrics;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        if (HasHttpBody(context.Request))
        {
            context.Request.Body = new RequestBodyStream(context.Request.Body, context.RequestAborted);
        }

        try
        {
            await _next(context);
        }
        catch (CacheException e)
        {
            var status = ErrorMapping.ToStatusCode(e.Error);
            var level = status >= 500 ? LogLevel.Error : LogLevel.Information;
            _logger.Log(level, e.InnerException, "{Method} {Path} -> {Status}: {Message}",
                context.Request.Method, PathOf(context), status, e.Message);
            RecordRejected(context, e.Error);
            await WriteErrorAsync(context, status, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            // The client broke HTTP's framing (chunk sizes, Content-Length, timeouts): its fault, one line, no stack trace.
            _logger.LogInformation("{Method} {Path} -> {Status}: {Message}", context.Request.Method, PathOf(context), e.StatusCode, e.Message);
            RecordRejected(context, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? CacheError.TooLarge : CacheError.Invalid);
            await WriteErrorAsync(context, e.StatusCode, e.Message);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            _logger.LogDebug("{Method} {Path}: client went away", context.Request.Method, PathOf(context));
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Method} {Path} failed", context.Request.Method, PathOf(context));
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "internal error; see the server log");
        }
    }

    /// <summary>
    /// A request whose body handlers read as a stream: not gRPC, whose own stack reads <see cref="HttpRequest.BodyReader"/>
    /// and answers with gRPC statuses.
    /// </summary>
    private static bool HasHttpBody(HttpRequest request) =>
        request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true
        && !(request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) ?? false);

    /// <summary>The request path for the log, clipped: a client's 100 KB path must not fill it.</summary>
    private static string PathOf(HttpContext context) => ClientText.Cut(context.Request.Path.Value) ?? "";

    private void RecordRejected(HttpContext context, CacheError error)
    {
        if (HttpMethods.IsPut(context.Request.Method) || HttpMethods.IsPost(context.Request.Method))
        {
            _metrics.RecordUploadRejected(RejectionReasons[(int)error]);
        }
    }

    public static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            context.Abort(); // too late for a status: cut the connection so the client sees a failure, not a short body
            return;
        }

        context.Response.Clear();
        NoSniff.Apply(context.Response);
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"flywheel\", Bearer realm=\"flywheel\"";
        }

        // An upload refused before its body was read: tell Kestrel not to drain a huge body.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } body)
        {
            body.MaxRequestBodySize = 0;
            if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
            {
                // The unread body ends the connection after this answer: say so, so that a keep-alive client (HttpClient,
                // curl) does not send its next request on a connection that is about to close.
                context.Response.Headers.Connection = "close";
            }
        }

        if (context.Request.Path.StartsWithSegments("/_api"))
        {
            await Results.Problem(statusCode: status, detail: message).ExecuteAsync(context);
            return;
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.WriteAsync(message + "\n");
        }
    }
}
