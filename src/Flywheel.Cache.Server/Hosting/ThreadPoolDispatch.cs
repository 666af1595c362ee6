namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// Where the inline part of the pipeline ends. Kestrel's socket transport runs with
/// <c>UnsafePreferInlineScheduling</c> (<see cref="FlywheelHost"/>): an HTTP/1.1 request's middleware runs on the
/// thread-pool worker that received its bytes, inside the connection's receive loop, and the response is sent by the
/// thread that writes it, with no hand-off to another worker or to an IOQueue thread in between (the default costs
/// two per request). That is what the Nix read fast path before this point wants: a narinfo from memory is one thread
/// per request, as in nginx. Every HTTP/1.x request that gets here (uploads that hash and verify, SQLite's
/// synchronous calls, the API, the status page) is queued to the thread pool first, as Kestrel would have done for
/// it, so none of that starts inside a receive loop. (A handler that later awaits more request body resumes on the
/// worker that received those bytes, as before on a pool worker; with inline scheduling that worker's receive loop
/// waits until the handler asks for more, which for one HTTP/1.1 request is what the client waits for anyway.)
/// HTTP/2 (gRPC) needs nothing: Kestrel starts every HTTP/2 stream as a work item of its own and only frame handling
/// runs in the receive loop.
/// </summary>
/// <remarks>
/// The receive loop itself never runs on the sockets engine's epoll thread: the runtime hands socket completions to
/// thread-pool workers (unless <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, which we do not set), and a
/// worker queues another one for other sockets' events before it handles one. So what runs inline (the middleware
/// before this, and a fast-path answer that is not in memory: one index read) holds up its own connection only, which
/// waits for that answer anyway.
/// </remarks>
internal sealed class ThreadPoolDispatch(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context) =>
        HttpProtocol.IsHttp2(context.Request.Protocol) ? next(context) : DispatchAsync(context);

    private async Task DispatchAsync(HttpContext context)
    {
        await Task.Yield(); // no synchronization context: the rest runs as a thread-pool work item
        await next(context);
    }
}
