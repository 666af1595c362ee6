using Flywheel.Cache.Bazel;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.BazelGrpc;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>The Bazel remote cache behind both its front doors: the cache, instance names, resumable uploads, the REAPI gRPC services.</summary>
public static class BazelServices
{
    public static IServiceCollection AddBazelCache(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(sp => new BazelCache(
            sp.GetRequiredService<IBlobStore>(), sp.GetRequiredService<IBlobIndex>(), sp.GetRequiredService<IActionCacheStore>(), BazelLimits.Default, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<AccessTracker>()));
        services.AddSingleton(sp => new BazelInstances(sp.GetRequiredService<RequestAuthorizer>(), options.BazelDefaultInstance));
        services.AddSingleton<ByteStreamUploads>();
        services.AddReapiGrpc();
        return services;
    }
}
