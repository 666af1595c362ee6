using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Routing;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>
/// Counts every request by route pattern (never the raw path, so series stay bounded), method and status code,
/// with its duration and, where Content-Length declares them, the body bytes in and out.
/// </summary>
internal sealed class RequestMetricsMiddleware(RequestDelegate next, FlywheelMetrics metrics)
{
    internal const string Unmatched = "unmatched";
    internal const string OtherMethod = "_OTHER";

    private static readonly string[] KnownMethods =
    [
        HttpMethods.Get, HttpMethods.Head, HttpMethods.Put, HttpMethods.Post, HttpMethods.Delete,
        HttpMethods.Patch, HttpMethods.Options, HttpMethods.Connect, HttpMethods.Trace,
    ];

    private static readonly ConcurrentDictionary<string, string> SlashedPatterns = new(StringComparer.Ordinal);

    public async Task InvokeAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var failed = false;
        try
        {
            await next(context);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            var response = context.Response;
            var status = failed && !response.HasStarted ? StatusCodes.Status500InternalServerError : response.StatusCode;
            var method = MethodOf(context.Request.Method);
            var sent = HttpMethods.IsHead(method) ? null : response.ContentLength;
            metrics.RecordHttpRequest(RouteOf(context), method, status, Stopwatch.GetElapsedTime(start), context.Request.ContentLength, sent);
        }
    }

    /// <summary>The matched endpoint's route pattern with a leading slash, its display name when it has no pattern, or <c>unmatched</c>.</summary>
    internal static string RouteOf(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            return Unmatched;
        }

        if (endpoint is RouteEndpoint { RoutePattern.RawText: { } raw })
        {
            return raw.StartsWith('/') ? raw : SlashedPatterns.GetOrAdd(raw, static r => "/" + r);
        }

        return endpoint.DisplayName ?? Unmatched;
    }

    /// <summary>The canonical method name, or <c>_OTHER</c> for methods outside the standard set.</summary>
    internal static string MethodOf(string method)
    {
        // Kestrel hands over the interned constants for standard methods, so string.Equals' reference check usually decides.
        foreach (var known in KnownMethods)
        {
            if (string.Equals(method, known, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return OtherMethod;
    }
}

public static class RequestMetricsApplicationBuilderExtensions
{
    /// <summary>
    /// Records <c>flywheel_http_requests_total</c>, <c>flywheel_http_request_duration_seconds</c> and the byte counters
    /// for every request that passes this point. Place it early (before the front doors); it reads the matched
    /// endpoint after the rest of the pipeline ran. Needs <see cref="MetricsServiceCollectionExtensions.AddFlywheelMetrics"/>.
    /// </summary>
    public static IApplicationBuilder UseRequestMetrics(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<RequestMetricsMiddleware>();
    }
}
