using Flywheel.Cache.Builds;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.FlakeHub;
using Flywheel.Cache.Promotion.Oci;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Auth.Oidc;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>The JSON API under <c>/_api/v1</c> and what only it uses: bounded bodies, pins, the promotion gate and its publishers.</summary>
public static class ApiServices
{
    /// <summary>One client for every publisher (registries, FlakeHub): pooled connections, no redirects to other hosts' credentials.</summary>
    private static readonly HttpClient PublishingHttp = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AllowAutoRedirect = true,
        ConnectTimeout = TimeSpan.FromSeconds(15),
    })
    {
        Timeout = TimeSpan.FromHours(1),
    };

    public static IServiceCollection AddApi(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton<ApiBodies>();
        services.AddSingleton<TrustPolicyCatalog>();
        services.AddSingleton<OidcIssuers>();
        services.AddSingleton<OidcExchange>();
        services.AddSingleton<CachePins>();
        services.AddSingleton(sp => new NarSource(sp.GetRequiredService<INarInfoStore>(), sp.GetRequiredService<IBlobStore>()));
        services.AddSingleton(sp => new PromotionGate(
            sp.GetRequiredService<IPromotionStore>(), sp.GetRequiredService<INarInfoStore>(), sp.GetRequiredService<IPinStore>(), sp.GetRequiredService<NarSource>(),
            [
                new OciPublisher(sp.GetRequiredService<NarSource>(), PublishingHttp),
                new FlakeHubPublisher(PublishingHttp, options.FlakeHubUrl),
            ],
            sp.GetRequiredService<TimeProvider>(), new Uri(options.PublicUrl, "_api/v1/promotions").ToString(),
            new FlakeInspector(new ProcessRunner())));
        return services;
    }

    public static void MapApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/_api/v1");
        CachesApi.Map(api);
        TokensApi.Map(api);
        PinsApi.Map(api);
        PromotionsApi.Map(api);
        UpstreamsApi.Map(api);
        TrustApi.Map(api);
        OidcApi.Map(api);
        BuildsApi.Map(api);
        OverviewApi.Map(api);
        MissingPathsApi.Map(api);
    }
}
