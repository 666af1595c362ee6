using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Tests.Upstream;

/// <summary>
/// A binary cache upstream for tests: real Kestrel on a loopback port serving a folder of files that real Nix
/// wrote (Nix/Fixtures), counting requests per path, with knobs to make it misbehave (hang, fail, require a token).
/// </summary>
public sealed class UpstreamServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private UpstreamServer(WebApplication app, string root)
    {
        _app = app;
        Root = root;
    }

    /// <summary>The folder served; tests may change files in it.</summary>
    public string Root { get; }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>GET requests received, by path.</summary>
    public ConcurrentDictionary<string, int> Requests { get; } = new(StringComparer.Ordinal);

    /// <summary>Authorization headers received, in order.</summary>
    public ConcurrentQueue<string> Authorizations { get; } = new();

    /// <summary>Answer every request with this status instead of the file.</summary>
    public int? FailWith { get; set; }

    /// <summary>Hold every request open without answering (until the client gives up).</summary>
    public bool Hang { get; set; }

    /// <summary>Delay before answering a file.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>After sending this many bytes of a NAR, stop sending (and hold the connection).</summary>
    public int? StallNarAfterBytes { get; set; }

    public int Count(string path) => Requests.GetValueOrDefault(path);

    public int NarRequests => Requests.Where(r => r.Key.Contains("/nar/", StringComparison.Ordinal)).Sum(r => r.Value);

    /// <summary>Serves a copy of <paramref name="source"/> (copied, so a test may tamper with it).</summary>
    public static async Task<UpstreamServer> StartAsync(string source)
    {
        var root = Path.Combine(Path.GetTempPath(), "flywheel-upstream-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(source, root);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new UpstreamServer(app, root);
        app.MapGet("/{**path}", server.ServeAsync);
        await app.StartAsync();
        server.BaseAddress = new Uri(app.Urls.First() + "/");
        return server;
    }

    private async Task ServeAsync(HttpContext context, string path)
    {
        Requests.AddOrUpdate("/" + path, 1, static (_, n) => n + 1);
        if (context.Request.Headers.Authorization.Count > 0)
        {
            Authorizations.Enqueue(context.Request.Headers.Authorization.ToString());
        }

        if (Hang)
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }

        if (FailWith is { } status)
        {
            context.Response.StatusCode = status;
            return;
        }

        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, context.RequestAborted);
        }

        var file = Path.GetFullPath(Path.Combine(Root, path));
        if (!file.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var bytes = await File.ReadAllBytesAsync(file);
        context.Response.ContentLength = bytes.Length;
        if (StallNarAfterBytes is { } stallAt && path.StartsWith("nar/", StringComparison.Ordinal))
        {
            await context.Response.Body.WriteAsync(bytes.AsMemory(0, Math.Min(stallAt, bytes.Length)));
            await context.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }

        await context.Response.Body.WriteAsync(bytes);
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Hang = false;
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
