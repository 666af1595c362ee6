using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>The daemon's two Kestrel listeners, kept so the bound addresses (port 0 resolved) can be reported.</summary>
public sealed class Listeners
{
    public ListenOptions? Http { get; set; }

    public ListenOptions? Grpc { get; set; }

    public static Uri ToUri(IPEndPoint endpoint, string scheme)
    {
        var address = endpoint.Address switch
        {
            var a when a.Equals(IPAddress.Any) => IPAddress.Loopback,
            var a when a.Equals(IPAddress.IPv6Any) => IPAddress.IPv6Loopback,
            var a => a,
        };
        var host = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        return new Uri($"{scheme}://{host}:{endpoint.Port}/");
    }
}

/// <summary>Where a started daemon listens.</summary>
public sealed record BoundAddresses(Uri Http, Uri Grpc);
