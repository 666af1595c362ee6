using Flywheel.Cache.Builds;
using Flywheel.Cache.Server.Hosting;

namespace Flywheel.Cache.Server.BuildHosting;

/// <summary>Build orchestration in the daemon: the lanes, the queue, the in-process workers and the queue gauges.</summary>
public static class BuildServices
{
    public static IServiceCollection AddBuilds(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(new LaneSet(options.Builds.Lanes));
        services.AddSingleton(options.Builds);
        services.AddSingleton<BuildQueue>();
        services.AddHostedService<BuildWorkerService>();
        services.AddHostedService<BuildQueueGauge>();
        return services;
    }
}
