namespace Flywheel.Cache.Server.Metrics;

public static class MetricsEndpointExtensions
{
    /// <summary>
    /// Serves the Prometheus exposition at <paramref name="pattern"/> (GET). Needs
    /// <see cref="MetricsServiceCollectionExtensions.AddFlywheelMetrics"/>; starts the exporter and the process
    /// gauges now, so measurements from the first request on are counted.
    /// </summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var exporter = endpoints.ServiceProvider.GetService<PrometheusExporter>()
            ?? throw new InvalidOperationException("MapPrometheusMetrics needs services.AddFlywheelMetrics() first.");
        _ = endpoints.ServiceProvider.GetRequiredService<ProcessMetrics>();
        _ = endpoints.ServiceProvider.GetRequiredService<FlywheelMetrics>();

        return endpoints.MapGet(pattern, async context =>
        {
            context.Response.ContentType = PrometheusExporter.ContentType;
            context.Response.Headers.CacheControl = "no-store";
            exporter.Write(context.Response.BodyWriter);
            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
        });
    }
}
