using Flywheel.Cache.Server.BazelGrpc;
using Flywheel.Cache.Server.BazelHttp;
using Flywheel.Cache.Server.BuildHosting;
using Flywheel.Cache.Server.Http;
using Flywheel.Cache.Server.MaintenanceHosting;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Server.NixHttp;
using Flywheel.Cache.Server.Ui;
using Flywheel.Cache.Upstream;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// Builds and runs the daemon, in named steps: configuration and logging, Kestrel's listeners, each area's services
/// (<see cref="StorageServices"/>, <see cref="MaintenanceServices"/>, <see cref="NixServices"/>, <see cref="BuildServices"/>,
/// <see cref="ApiServices"/>, <see cref="BazelServices"/>, metrics), then the request pipeline and each front door's routes.
/// </summary>
public static class FlywheelHost
{
    /// <summary>
    /// Builds the app. Configuration sources, later ones winning: appsettings.json, <c>FLYWHEEL_</c> environment
    /// variables, then <paramref name="settings"/> (the command line's flags).
    /// </summary>
    public static WebApplication Build(IReadOnlyDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = CreateBuilder(settings, configure);
        var options = ServerOptions.Load(builder.Configuration);
        var listeners = ConfigureKestrel(builder, options);
        builder.Services
            .AddSingleton(options)
            .AddSingleton(listeners)
            .AddSingleton(TimeProvider.System)
            .AddStorageAndIndex(options)
            .AddMaintenance(options)
            .AddNixCache(options)
            .AddBuilds(options)
            .AddApi(options)
            .AddBazelCache(options)
            .AddFlywheelMetrics();

        var app = builder.Build();
        app.Services.GetRequiredService<FlywheelMetrics>().ObserveUpstreamCircuits(app.Services.GetRequiredService<UpstreamBreakers>());
        app.UseMiddleware<NoSniff>();
        app.UseMiddleware<ErrorHandling>();
        app.UseRequestMetrics();
        app.UseMiddleware<NixReadFastPath>(); // before routing: the hottest Nix reads skip the matcher
        app.UseRouting();
        HealthEndpoints.Map(app);
        app.MapPrometheusMetrics("/metrics");
        app.MapApi();
        UiEndpoints.Map(app);
        NixRoutes.Map(app);
        BazelHttpEndpoints.Map(app);
        app.MapReapiGrpc();
        return app;
    }

    /// <summary>Configuration (appsettings, <c>FLYWHEEL_</c> variables, then <paramref name="settings"/>) and logging.</summary>
    private static WebApplicationBuilder CreateBuilder(IReadOnlyDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure)
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
        return builder;
    }

    /// <summary>The HTTP and gRPC listeners, with the transport's buffers and limits; returns where they bind once started.</summary>
    private static Listeners ConfigureKestrel(WebApplicationBuilder builder, ServerOptions options)
    {
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
        return listeners;
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
        Console.WriteLine($"  status page:         {new Uri(publicUrl, UiEndpoints.Path.TrimStart('/'))}");
        Console.WriteLine($"  admin token:         {bootstrap.AdminTokenPath}{(File.Exists(bootstrap.AdminTokenPath) ? "" : " (not on this machine: issued by another replica)")}");
        return bound;
    }
}
