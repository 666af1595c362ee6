using System.IO.Compression;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Server.Hosting;
using Google.Bytestream;
using Grpc.AspNetCore.Server.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// The gRPC front door on Grpc.AspNetCore: the REAPI and ByteStream services (generated stubs), <c>grpc.health.v1.Health</c>
/// (storage and index readiness, what <c>/readyz</c> checks), server reflection, gzip response compression when the
/// client accepts it (not for blob bytes), message size limits for REAPI, and <see cref="GrpcErrorMapping"/>.
/// Deadlines (<c>grpc-timeout</c>) are Grpc.AspNetCore's: the call's token is cancelled and the call ends DEADLINE_EXCEEDED.
/// </summary>
internal static class ReapiGrpc
{
    /// <summary>
    /// Largest message received or sent: Bazel's batches carry up to max_batch_total_size_bytes (4 MiB) of blob bytes
    /// plus their digests; 16 MiB leaves room for that and for FindMissingBlobs of about 200,000 digests, and bounds
    /// what one unary call holds in memory (ByteStream streams many small messages and never holds a blob whole).
    /// </summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>How often readiness is published to Health.Watch subscribers (Check runs the checks when asked).</summary>
    public static readonly TimeSpan HealthPeriod = TimeSpan.FromSeconds(5);

    /// <summary>The services whose health is answered: "" (the server) and each REAPI service, all on the same checks.</summary>
    public static readonly string[] HealthServiceNames =
    [
        "",
        Capabilities.Descriptor.FullName,
        ActionCache.Descriptor.FullName,
        ContentAddressableStorage.Descriptor.FullName,
        ByteStream.Descriptor.FullName,
    ];

    public static void AddReapiGrpc(this IServiceCollection services)
    {
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = MaxMessageBytes;
            grpc.MaxSendMessageSize = MaxMessageBytes;
            grpc.ResponseCompressionAlgorithm = "gzip"; // used only when the client's grpc-accept-encoding lists it
            grpc.ResponseCompressionLevel = CompressionLevel.Fastest;
            grpc.EnableDetailedErrors = false;
            grpc.Interceptors.Add<GrpcErrorMapping>();
        });
        services.AddSingleton<GrpcErrorMapping>();
        // Stateless: one instance each, instead of one per call.
        services.AddSingleton<CapabilitiesService>();
        services.AddSingleton<ActionCacheService>();
        services.AddSingleton<ContentAddressableStorageService>();
        services.AddSingleton<ByteStreamService>();
        services.AddSingleton<IServiceMethodProvider<ContentAddressableStorageService>, FindMissingBlobsMethod>();
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks(health =>
            {
                foreach (var name in HealthServiceNames)
                {
                    health.Services.Map(name, _ => true);
                }
            })
            .AddCheck<HealthEndpoints.BackendsHealthCheck>("backends");
        services.Configure<HealthCheckPublisherOptions>(publisher =>
        {
            publisher.Delay = TimeSpan.FromSeconds(1);
            publisher.Period = HealthPeriod;
        });
    }

    public static void MapReapiGrpc(this IEndpointRouteBuilder app)
    {
        app.MapGrpcService<CapabilitiesService>();
        app.MapGrpcService<ActionCacheService>();
        app.MapGrpcService<ContentAddressableStorageService>();
        app.MapGrpcService<ByteStreamService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
    }
}
