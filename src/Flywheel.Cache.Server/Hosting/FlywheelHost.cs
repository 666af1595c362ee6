using Flywheel.Cache.Bazel;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Promotion;
using Flywheel.Cache.Promotion.FlakeHub;
using Flywheel.Cache.Promotion.Oci;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Bazel;
using Flywheel.Cache.Server.Bazel.Grpc;
using Flywheel.Cache.Server.Bazel.Http;
using Flywheel.Cache.Server.Http;
using Flywheel.Cache.Server.Maintenance;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Server.Nix;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tokens;
using Flywheel.Cache.Upstream;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>Builds and runs the daemon: configuration, backends, front doors.</summary>
public static class FlywheelHost
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

    /// <summary>
    /// Builds the app. Configuration sources, later ones winning: appsettings.json, <c>FLYWHEEL_</c> environment
    /// variables, then <paramref name="settings"/> (the command line's flags).
    /// </summary>
    public static WebApplication Build(IReadOnlyDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables(ConfigKeys.EnvironmentPrefix);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // While this category is enabled at any level, hosting starts an Activity (random trace id, AsyncLocal) and a
        // logging scope for every request; it logs only request start/finish, which we do not want. Errors are
        // logged by ErrorHandling and Kestrel's own categories.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        configure?.Invoke(builder);

        var options = ServerOptions.Load(builder.Configuration);
        var listeners = new Listeners();
        // Receive buffers: 64 KiB blocks instead of Kestrel's 4 KiB (TransportMemoryPool). Kestrel's wait for data
        // before taking a block stays on: an idle keep-alive connection holds no block (one extra 1-byte peek per
        // read measured no difference, hot narinfo or 64 MiB uploads).
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, TransportMemoryPoolFactory>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // each route enforces its own configurable limit
            // HTTP/2 receive windows (Kestrel's defaults: 768 KiB per stream, 1 MiB per connection) larger than one
            // 1 MiB ByteStream Write chunk, so a client can keep sending while we hash and store (64 MiB writes on
            // loopback: about 15% faster). Bounded: at most 8 MiB waits unread per connection.
            kestrel.Limits.Http2.InitialStreamWindowSize = 4 << 20;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 8 << 20;
            kestrel.Listen(options.Http, listen => listeners.Http = listen);
            kestrel.Listen(options.Grpc, listen =>
            {
                listen.Protocols = HttpProtocols.Http2; // cleartext h2 with prior knowledge, as grpc:// clients speak
                listeners.Grpc = listen;
            });
        });

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(listeners);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IBlobStore>(sp => new MeteredBlobStore(
            Backends.CreateBlobStore(options, sp.GetRequiredService<TimeProvider>()), sp.GetRequiredService<FlywheelMetrics>()));
        services.AddSingleton(sp => Backends.CreateIndex(options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new NarInfoMemoryCache(options.NarInfoCacheBytes, options.NarInfoTtl, options.NarInfoNegativeTtl, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<AccessTracker>();
        services.AddSingleton(options.Gc);
        services.AddSingleton<GarbageCollector>();
        services.AddHostedService<GcService>();
        services.AddHostedService<AccessFlushService>();
        services.AddSingleton(sp => new NixBinaryCache(
            sp.GetRequiredService<IBlobStore>(), sp.GetRequiredService<IMetadataStore>(), sp.GetRequiredService<NarInfoMemoryCache>(),
            options.Limits, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<AccessTracker>()));
        services.AddSingleton<CacheCatalog>();
        services.AddSingleton<CachePins>();
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
        services.AddSingleton(new Flywheel.Cache.Builds.LaneSet(options.Builds.Lanes));
        services.AddSingleton(options.Builds);
        services.AddSingleton<Flywheel.Cache.Builds.BuildQueue>();
        services.AddHostedService<Builds.BuildWorkerService>();
        services.AddHostedService<Builds.BuildQueueGauge>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<RequestAuthorizer>();
        services.AddSingleton<ApiBodies>();
        services.AddSingleton(sp => (Flywheel.Cache.Index.Trust.ITrustStore)sp.GetRequiredService<IMetadataStore>());
        services.AddSingleton<Auth.Oidc.TrustPolicyCatalog>();
        services.AddSingleton<Auth.Oidc.OidcIssuers>();
        services.AddSingleton<Auth.Oidc.OidcExchange>();
        services.AddSingleton<Bootstrap>();
        services.AddSingleton(sp => new BazelCache(
            sp.GetRequiredService<IBlobStore>(), sp.GetRequiredService<IMetadataStore>(), BazelLimits.Default, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<AccessTracker>()));
        services.AddSingleton(sp => new BazelInstances(sp.GetRequiredService<RequestAuthorizer>(), options.BazelDefaultInstance));
        services.AddSingleton<ByteStreamUploads>();
        services.AddSingleton(sp => new NarSource(sp.GetRequiredService<IMetadataStore>(), sp.GetRequiredService<IBlobStore>()));
        services.AddSingleton(sp => new PromotionGate(
            sp.GetRequiredService<IMetadataStore>(), sp.GetRequiredService<NarSource>(),
            [
                new OciPublisher(sp.GetRequiredService<NarSource>(), PublishingHttp),
                new FlakeHubPublisher(sp.GetRequiredService<NarSource>(), PublishingHttp, options.FlakeHubUrl),
            ],
            sp.GetRequiredService<TimeProvider>(), new Uri(options.PublicUrl, "_api/v1/promotions").ToString()));
        services.AddReapiGrpc();
        services.AddFlywheelMetrics();

        var app = builder.Build();
        app.Services.GetRequiredService<FlywheelMetrics>().ObserveUpstreamCircuits(app.Services.GetRequiredService<UpstreamBreakers>());
        app.UseMiddleware<NoSniff>();
        app.UseMiddleware<ErrorHandling>();
        app.UseRequestMetrics();
        app.UseMiddleware<NixReadFastPath>(); // before routing: the hottest Nix reads skip the matcher
        app.UseRouting();
        HealthEndpoints.Map(app);
        app.MapPrometheusMetrics("/metrics");
        var api = app.MapGroup("/_api/v1");
        CachesApi.Map(api);
        TokensApi.Map(api);
        PinsApi.Map(api);
        PromotionsApi.Map(api);
        UpstreamsApi.Map(api);
        TrustApi.Map(api);
        OidcApi.Map(api);
        BuildsApi.Map(api);
        NixRoutes.Map(app);
        BazelHttpEndpoints.Map(app);
        app.MapReapiGrpc();
        return app;
    }

    /// <summary>Migrates, bootstraps and starts listening; returns the addresses actually bound (port 0 resolves here).</summary>
    public static async Task<BoundAddresses> StartAsync(WebApplication app, CancellationToken cancellationToken)
    {
        var bootstrap = app.Services.GetRequiredService<Bootstrap>();
        var main = await bootstrap.RunAsync(cancellationToken);
        await app.StartAsync(cancellationToken);

        var options = app.Services.GetRequiredService<ServerOptions>();
        var listeners = app.Services.GetRequiredService<Listeners>();
        var bound = new BoundAddresses(
            Listeners.ToUri(listeners.Http?.IPEndPoint ?? options.Http, "http"),
            Listeners.ToUri(listeners.Grpc?.IPEndPoint ?? options.Grpc, "grpc"));
        var publicUrl = options.Http.Port == 0 ? bound.Http : options.PublicUrl;

        Console.WriteLine($"flywheel listening on {bound.Http} (HTTP) and {bound.Grpc} (gRPC)");
        Console.WriteLine($"  data folder:         {options.DataDirectory}");
        Console.WriteLine($"  Nix substituter:     {new Uri(publicUrl, Bootstrap.DefaultCache)}");
        Console.WriteLine($"  trusted-public-keys: {main.PublicKey}");
        Console.WriteLine($"  Bazel remote cache:  --remote_cache={bound.Grpc.ToString().TrimEnd('/')} or --remote_cache={publicUrl.ToString().TrimEnd('/')}");
        Console.WriteLine($"  admin token:         {bootstrap.AdminTokenPath}{(File.Exists(bootstrap.AdminTokenPath) ? "" : " (not on this machine: issued by another replica)")}");
        return bound;
    }
}
