using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>A Kestrel server on a loopback port whose one handler checks and answers every request (stand-ins for FlakeHub and a token-auth registry).</summary>
internal sealed class TestHttpServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestHttpServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public List<string> Requests { get; } = [];

    public static async Task<TestHttpServer> StartAsync(Func<HttpContext, TestHttpServer, Task> handle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        TestHttpServer? server = null;
        app.Run(async context =>
        {
            lock (server!.Requests)
            {
                server.Requests.Add($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
            }

            await handle(context, server);
        });
        await app.StartAsync();
        server = new TestHttpServer(app, new Uri(app.Urls.First() + "/"));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
