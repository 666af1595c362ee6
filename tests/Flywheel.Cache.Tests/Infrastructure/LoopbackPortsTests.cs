using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Flywheel.Cache.Tests.Infrastructure;

public sealed class LoopbackPortsTests
{
    [Fact]
    public void Ports_are_bindable_distinct_and_below_the_ephemeral_range()
    {
        var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var firstEphemeral = int.Parse(range[0], CultureInfo.InvariantCulture);

        var ports = Enumerable.Range(0, 200).Select(_ => LoopbackPorts.Next()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, port => Assert.InRange(port, 1024, firstEphemeral - 1));
        using var listener = new TcpListener(IPAddress.Loopback, ports[^1]);
        listener.Start();
    }
}
