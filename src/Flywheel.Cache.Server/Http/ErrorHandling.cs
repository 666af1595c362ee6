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
        try
        {
            await _next(context);
        }
        catch (CacheException e)
        {
            var status = ErrorMapping.ToStatusCode(e.Error);
            var level = status >= 500 ? LogLevel.Error : LogLevel.Information;
            _logger.Log(level, e.InnerException, "{Method} {Path} -> {Status}: {Message}",
                context.Request.Method, context.Request.Path.Value, status, e.Message);
            if (HttpMethods.IsPut(context.Request.Method) || HttpMethods.IsPost(context.Request.Method))
            {
                _metrics.RecordUploadRejected(RejectionReasons[(int)e.Error]);
            }
            await WriteErrorAsync(context, status, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            _logger.LogInformation("{Method} {Path} -> {Status}: {Message}", context.Request.Method, context.Request.Path.Value, e.StatusCode, e.Message);
            await WriteErrorAsync(context, e.StatusCode, e.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            _logger.LogDebug("{Method} {Path}: client went away", context.Request.Method, context.Request.Path.Value);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path.Value);
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "internal error; see the server log");
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
