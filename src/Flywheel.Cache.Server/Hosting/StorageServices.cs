using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Index.Trust;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>What every front door shares: the blob store and the index the options select, the caches, and who may use them.</summary>
public static class StorageServices
{
    public static IServiceCollection AddStorageAndIndex(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton<IBlobStore>(sp => new MeteredBlobStore(
            Backends.CreateBlobStore(options, sp.GetRequiredService<TimeProvider>()), sp.GetRequiredService<FlywheelMetrics>()));
        services.AddSingleton(sp => Backends.CreateIndex(options, sp.GetRequiredService<TimeProvider>()));
        // Consumers ask for the aggregate store they use; one index object serves them all.
        services.AddSingleton<ISettingsStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<ICacheStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<INarInfoStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IUpstreamStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IBlobIndex>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IActionCacheStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IPinStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IRetentionStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IPromotionStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IBuildStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<IBuildWorkerStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<ITrustStore>(sp => sp.GetRequiredService<IMetadataIndex>());
        services.AddSingleton<AccessTracker>();
        services.AddSingleton<CacheCatalog>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<RequestAuthorizer>();
        services.AddSingleton<Bootstrap>();
        return services;
    }
}
