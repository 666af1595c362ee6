using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Flywheel.Cache.Server.Metrics;

public static class MetricsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="FlywheelMetrics"/>, <see cref="ProcessMetrics"/> and the <see cref="PrometheusExporter"/>.
    /// The exporter exports meters from this host's <see cref="IMeterFactory"/> (and static meters) whose name starts
    /// with <see cref="PrometheusExporterOptions.MeterNamePrefix"/>, so two hosts in one process do not mix.
    /// </summary>
    public static IServiceCollection AddFlywheelMetrics(this IServiceCollection services, Action<PrometheusExporterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddMetrics();
        services.TryAddSingleton<FlywheelMetrics>();
        services.TryAddSingleton<ProcessMetrics>();
        services.TryAddSingleton(provider =>
        {
            var factory = provider.GetRequiredService<IMeterFactory>();
            var options = new PrometheusExporterOptions
            {
                MeterFilter = meter => meter.Scope is null || ReferenceEquals(meter.Scope, factory),
            };
            configure?.Invoke(options);
            return new PrometheusExporter(options);
        });
        return services;
    }
}
