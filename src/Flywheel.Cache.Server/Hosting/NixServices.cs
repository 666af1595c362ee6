using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>The Nix binary cache: narinfos remembered in memory, the cache operations, and read-through to upstream caches.</summary>
public static class NixServices
{
    public static IServiceCollection AddNixCache(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(sp => new NarInfoMemoryCache(options.NarInfoCacheBytes, options.NarInfoTtl, options.NarInfoNegativeTtl, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new NixBinaryCache(
            sp.GetRequiredService<IBlobStore>(), sp.GetRequiredService<INarInfoStore>(), sp.GetRequiredService<IBlobIndex>(), sp.GetRequiredService<NarInfoMemoryCache>(),
            options.Limits, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<AccessTracker>()));
        services.AddSingleton(options.Upstream);
        services.AddSingleton(sp => new UpstreamBreakers(options.Upstream, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<UpstreamCatalog>();
        services.AddSingleton(_ => new UpstreamClient());
        services.AddSingleton(sp =>
        {
            var readThrough = ActivatorUtilities.CreateInstance<UpstreamReadThrough>(sp);
            readThrough.Observer = sp.GetRequiredService<FlywheelMetrics>().RecordUpstreamFetch;
            return readThrough;
        });
        return services;
    }
}
