using Flywheel.Cache.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// The transport runs requests inline in the receive loop up to the Nix read fast path; <see cref="ThreadPoolDispatch"/>
/// queues every other HTTP/1.x request to the thread pool, so handlers that block never run inside a receive loop.
/// </summary>
public sealed class ThreadPoolDispatchTests : IClassFixture<DaemonFixture>
{
    [ThreadStatic]
    private static bool t_insideInvoke;

    private readonly DaemonFixture _daemon;

    public ThreadPoolDispatchTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Theory]
    [InlineData("HTTP/1.1")]
    [InlineData("HTTP/1.0")]
    public async Task An_http1_request_continues_as_a_thread_pool_work_item_not_inline(string protocol)
    {
        var ranInline = await InvokeAsync(protocol);

        Assert.False(ranInline, "the rest of the pipeline ran inside the caller (the receive loop)");
    }

    [Fact]
    public async Task An_http2_stream_continues_inline_because_kestrel_already_started_it_as_a_work_item()
    {
        var ranInline = await InvokeAsync("HTTP/2");

        Assert.True(ranInline);
    }

    [Fact]
    public void The_daemon_schedules_its_socket_transport_inline()
    {
        var sockets = _daemon.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value;

        Assert.True(sockets.UnsafePreferInlineScheduling);
    }

    /// <summary>Whether the next middleware ran on the calling thread before <see cref="ThreadPoolDispatch.InvokeAsync"/> returned.</summary>
    private static async Task<bool> InvokeAsync(string protocol)
    {
        var ranInline = false;
        var dispatch = new ThreadPoolDispatch(_ =>
        {
            ranInline = t_insideInvoke;
            return Task.CompletedTask;
        });
        var context = new DefaultHttpContext();
        context.Request.Protocol = protocol;

        // Off xUnit's synchronization context, as Kestrel calls the pipeline.
        await Task.Run(async () =>
        {
            t_insideInvoke = true;
            Task pending;
            try
            {
                pending = dispatch.InvokeAsync(context);
            }
            finally
            {
                t_insideInvoke = false;
            }

            await pending;
        });
        return ranInline;
    }
}
