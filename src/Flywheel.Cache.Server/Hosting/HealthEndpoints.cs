using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Upstream;
using Polly.CircuitBreaker;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// <c>/healthz</c> (the process answers) and <c>/readyz</c> (storage and index reachable; the upstreams' circuit states as detail).
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", ReadyAsync);
    }

    private static async Task<IResult> ReadyAsync(HttpContext context, IBlobStore blobs, IMetadataStore index, UpstreamBreakers breakers, ILogger<ServerOptions> logger)
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

        // Upstreams are detail, not readiness: a dead upstream must not take this gateway out of rotation.
        var upstreams = breakers.Circuits().Select(c => new { cache = c.CacheName, url = c.Url, circuit = CircuitName(c.State) });
        return Results.Json(new { ready, checks, upstreams }, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    private static string CircuitName(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "isolated",
    };
}
