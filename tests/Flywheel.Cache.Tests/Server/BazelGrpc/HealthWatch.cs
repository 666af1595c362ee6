using Grpc.Core;
using Grpc.Health.V1;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>Reading a <c>grpc.health.v1.Health.Watch</c> stream (shared with the integration tests).</summary>
internal static class HealthWatch
{
    /// <summary>Reads the stream until it reports <paramref name="expected"/> (it starts with the current status); 30 seconds at most.</summary>
    public static async Task NextAsync(AsyncServerStreamingCall<HealthCheckResponse> watch, HealthCheckResponse.Types.ServingStatus expected)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await watch.ResponseStream.MoveNext(timeout.Token))
        {
            if (watch.ResponseStream.Current.Status == expected)
            {
                return;
            }
        }

        Assert.Fail($"Health.Watch ended without reporting {expected}");
    }
}
