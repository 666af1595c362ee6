using Flywheel.Cache.Maintenance;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Prometheus;

namespace Flywheel.Cache.Server.Metrics;

public static class MetricsServiceCollectionExtensions
{
    /// <summary>
    /// Registers this host's prometheus-net <see cref="CollectorRegistry"/> (a new one, not the process-wide default,
    /// so two hosts in one process do not mix), with prometheus-net's process and runtime metrics in it, and
    /// <see cref="FlywheelMetrics"/> on it, also as what garbage collection reports to (<see cref="IGcMetrics"/>).
    /// </summary>
    public static IServiceCollection AddFlywheelMetrics(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(_ =>
        {
            var registry = Prometheus.Metrics.NewCustomRegistry();
            DotNetStats.Register(registry);
            return registry;
        });
        services.TryAddSingleton(provider => new FlywheelMetrics(provider.GetRequiredService<CollectorRegistry>(), provider.GetService<TimeProvider>()));
        services.TryAddSingleton<IGcMetrics>(provider => provider.GetRequiredService<FlywheelMetrics>());
        return services;
    }
}
