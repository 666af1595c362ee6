using Microsoft.Extensions.Primitives;

namespace Flywheel.Cache.Server.Http;

/// <summary>
/// <c>X-Content-Type-Options: nosniff</c> on every response: browsers take the content type we send (logs as plain
/// text, listings as JSON), never one they guess from bytes a client uploaded. One header from a shared value: no
/// allocation per request.
/// </summary>
public sealed class NoSniff(RequestDelegate next)
{
    private static readonly StringValues Value = new("nosniff");

    public Task InvokeAsync(HttpContext context)
    {
        Apply(context.Response);
        return next(context);
    }

    /// <summary>Sets the header; also after <see cref="HttpResponse.Clear"/> (error answers).</summary>
    public static void Apply(HttpResponse response) => response.Headers.XContentTypeOptions = Value;
}
