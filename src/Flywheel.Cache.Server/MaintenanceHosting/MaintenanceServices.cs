using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Server.Hosting;

namespace Flywheel.Cache.Server.MaintenanceHosting;

/// <summary>Maintenance in the daemon: garbage collection every <c>Gc:Interval</c> and last-access times written to the index.</summary>
public static class MaintenanceServices
{
    public static IServiceCollection AddMaintenance(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(options.Gc);
        services.AddSingleton<GarbageCollector>();
        services.AddHostedService<GcService>();
        services.AddHostedService<AccessFlushService>();
        return services;
    }
}
