using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Tokens;
using Flywheel.Cache.Upstream;
using Polly.CircuitBreaker;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>GET /_api/v1/overview</c>: every cache the caller may read (anonymous: the public ones), each with what it
/// holds, its quota, the narinfo lookups, hits and uploads this gateway served over the last hour (minute buckets)
/// and day (hour buckets), and, for a caller with admin on it, its upstreams with circuit state and last failure.
/// The status page's Overview; caches the caller may not read are left out as if they did not exist.
/// </summary>
internal static class OverviewApi
{
    public static void Map(IEndpointRouteBuilder api) => api.MapGet("/overview", GetAsync);

    private static async Task<IResult> GetAsync(
        HttpContext context, CacheCatalog catalog, RequestAuthorizer auth, IRetentionStore index, UpstreamCatalog upstreams, UpstreamBreakers breakers,
        FlywheelMetrics metrics)
    {
        var token = await auth.AuthenticateAsync(context); // dead credentials: 401
        var cancel = context.RequestAborted;
        var circuits = breakers.Circuits();
        var views = new List<CacheOverview>();
        foreach (var record in (await catalog.ListAsync(cancel)).Where(c => RequestAuthorizer.MayRead(token, c)).OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            IReadOnlyList<UpstreamHealthView>? health = null;
            if (token is not null && RequestAuthorizer.Allows(token, record.Name, TokenScopes.Admin)
                && await catalog.FindAsync(record.Name, cancel) is { } cache)
            {
                health = (await upstreams.ListAsync(cache, cancel)).Select(u =>
                {
                    var state = circuits.FirstOrDefault(c => c.CacheName == record.Name && c.Url == u.Url).State;
                    var failure = metrics.Activity.LastFailure(record.Name, u.Url);
                    return new UpstreamHealthView(u.Url, u.Priority, CircuitText(state), failure?.Error, failure?.At);
                }).ToList();
            }

            var usage = await index.GetCacheUsageAsync(record.Id, cancel);
            views.Add(new CacheOverview(
                record.Name, record.IsPublic, record.QuotaBytes, usage,
                ActivityView.Of(metrics.Activity.Read(record.Name, 60, 1)),
                ActivityView.Of(metrics.Activity.Read(record.Name, 24, 60)),
                health));
        }

        return Results.Ok(new OverviewView(token is not null, views));
    }

    /// <summary>Polly's state as the page shows it: closed (used), open (skipped), half-open (being tried again), isolated.</summary>
    private static string CircuitText(CircuitState state) => state switch
    {
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        CircuitState.Isolated => "isolated",
        _ => "closed",
    };
}
