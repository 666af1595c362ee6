using Flywheel.Cache.Grpc.Server;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Flywheel.Cache.Grpc;

public static class GrpcServiceCollectionExtensions
{
    /// <summary>
    /// Registers the gRPC layer: <see cref="GrpcServerOptions"/> (read once, when the methods are mapped)
    /// and the routing policy of <see cref="GrpcEndpointRouteBuilderExtensions.MapGrpcFallback"/>.
    /// Required before any <c>MapGrpc*</c> call.
    /// </summary>
    public static IServiceCollection AddGrpcLayer(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRouting();
        services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, GrpcFallbackMatcherPolicy>());
        return services;
    }
}
