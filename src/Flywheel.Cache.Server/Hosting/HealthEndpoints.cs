using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Upstream;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Polly.CircuitBreaker;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// <c>/healthz</c> (the process answers) and <c>/readyz</c> (storage and index reachable; the upstreams' circuit states as detail);
/// the same readiness for <c>grpc.health.v1.Health</c> (<see cref="BackendsHealthCheck"/>).
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", ReadyAsync);
    }

    private static async Task<IResult> ReadyAsync(HttpContext context, IBlobStore blobs, IMetadataIndex index, UpstreamBreakers breakers, ILogger<ServerOptions> logger)
    {
        var (ready, checks) = await CheckBackendsAsync(blobs, index, logger, context.RequestAborted);

        // Upstreams are detail, not readiness: a dead upstream must not take this gateway out of rotation.
        var upstreams = breakers.Circuits().Select(c => new { cache = c.CacheName, url = c.Url, circuit = CircuitName(c.State) });
        return Results.Json(new { ready, checks, upstreams }, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>Readiness: storage and index each answer within 5 seconds. Per check "ok" or what failed.</summary>
    private static async Task<(bool Ready, Dictionary<string, string> Checks)> CheckBackendsAsync(
        IBlobStore blobs, IMetadataIndex index, ILogger logger, CancellationToken cancellationToken)
    {
        var checks = new Dictionary<string, string>();
        var ready = true;
        foreach (var (name, check) in new (string, Func<CancellationToken, Task>)[] { ("storage", blobs.CheckHealthAsync), ("index", index.CheckHealthAsync) })
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
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

        return (ready, checks);
    }

    /// <summary>The same readiness as an ASP.NET Core health check: what <c>grpc.health.v1.Health</c> answers from.</summary>
    internal sealed class BackendsHealthCheck(IBlobStore blobs, IMetadataIndex index, ILogger<ServerOptions> logger) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var (ready, checks) = await CheckBackendsAsync(blobs, index, logger, cancellationToken);
            var data = checks.ToDictionary(c => c.Key, c => (object)c.Value);
            return ready ? HealthCheckResult.Healthy("storage and index ready", data) : HealthCheckResult.Unhealthy("storage or index not ready", data: data);
        }
    }

    private static string CircuitName(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "isolated",
    };
}
