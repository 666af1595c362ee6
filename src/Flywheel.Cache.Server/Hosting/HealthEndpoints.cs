using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.Hosting;

/// <summary><c>/healthz</c> (the process answers) and <c>/readyz</c> (storage and index reachable).</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", ReadyAsync);
    }

    private static async Task<IResult> ReadyAsync(HttpContext context, IBlobStore blobs, IMetadataStore index, ILogger<ServerOptions> logger)
    {
        var checks = new Dictionary<string, string>();
        var ready = true;
        foreach (var (name, check) in new (string, Func<CancellationToken, Task>)[] { ("storage", blobs.CheckHealthAsync), ("index", index.CheckHealthAsync) })
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                await check(timeout.Token);
                checks[name] = "ok";
            }
            catch (Exception e) when (e is CacheException or OperationCanceledException or IOException)
            {
                logger.LogWarning(e, "readiness check {Check} failed", name);
                checks[name] = e.Message;
                ready = false;
            }
        }

        return Results.Json(new { ready, checks }, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
