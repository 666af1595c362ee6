using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Http;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Server.Nix;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Tokens;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>Builds and runs the daemon: configuration, backends, front doors.</summary>
public static class FlywheelHost
{
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
        configure?.Invoke(builder);

        var options = ServerOptions.Load(builder.Configuration);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // each route enforces its own configurable limit
            kestrel.Listen(options.Http);
        });

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IBlobStore>(sp => new MeteredBlobStore(
            Backends.CreateBlobStore(options, sp.GetRequiredService<TimeProvider>()), sp.GetRequiredService<FlywheelMetrics>()));
        services.AddSingleton(sp => Backends.CreateIndex(options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new NarInfoMemoryCache(options.NarInfoCacheBytes, options.NarInfoNegativeTtl, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new NixBinaryCache(
            sp.GetRequiredService<IBlobStore>(), sp.GetRequiredService<IMetadataStore>(), sp.GetRequiredService<NarInfoMemoryCache>(),
            options.Limits, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<CacheCatalog>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<RequestAuthorizer>();
        services.AddSingleton<Bootstrap>();
        services.AddFlywheelMetrics();

        var app = builder.Build();
        app.UseMiddleware<ErrorHandling>();
        app.UseRequestMetrics();
        HealthEndpoints.Map(app);
        app.MapPrometheusMetrics("/metrics");
        var api = app.MapGroup("/_api/v1");
        CachesApi.Map(api);
        TokensApi.Map(api);
        NixRoutes.Map(app);
        return app;
    }

    /// <summary>Migrates, bootstraps and starts listening; returns the address actually bound (port 0 resolves here).</summary>
    public static async Task<Uri> StartAsync(WebApplication app, CancellationToken cancellationToken)
    {
        var bootstrap = app.Services.GetRequiredService<Bootstrap>();
        var main = await bootstrap.RunAsync(cancellationToken);
        await app.StartAsync(cancellationToken);

        var options = app.Services.GetRequiredService<ServerOptions>();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        var address = bound is null ? options.PublicUrl : new Uri(bound.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "[::1]"));
        var publicUrl = options.Http.Port == 0 ? address : options.PublicUrl;

        Console.WriteLine($"flywheel listening on {address}");
        Console.WriteLine($"  data folder:         {options.DataDirectory}");
        Console.WriteLine($"  Nix substituter:     {new Uri(publicUrl, Bootstrap.DefaultCache)}");
        Console.WriteLine($"  trusted-public-keys: {main.PublicKey}");
        Console.WriteLine($"  admin token:         {bootstrap.AdminTokenPath}{(File.Exists(bootstrap.AdminTokenPath) ? "" : " (not on this machine: issued by another replica)")}");
        return address;
    }
}
