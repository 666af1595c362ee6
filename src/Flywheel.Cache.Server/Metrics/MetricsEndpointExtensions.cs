using Prometheus;

namespace Flywheel.Cache.Server.Metrics;

public static class MetricsEndpointExtensions
{
    /// <summary>
    /// Serves this host's registry at <paramref name="pattern"/> through prometheus-net's exporter (the Prometheus
    /// text format, or OpenMetrics when the scraper asks for it). Needs
    /// <see cref="MetricsServiceCollectionExtensions.AddFlywheelMetrics"/>.
    /// </summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var metrics = endpoints.ServiceProvider.GetService<FlywheelMetrics>()
            ?? throw new InvalidOperationException("MapPrometheusMetrics needs services.AddFlywheelMetrics() first.");
        return endpoints.MapMetrics(settings => settings.Registry = metrics.Registry, pattern);
    }
}
