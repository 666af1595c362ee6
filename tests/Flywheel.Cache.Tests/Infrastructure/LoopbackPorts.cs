using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// Loopback ports for servers a test starts as another process (s3rver, PostgreSQL, a registry, nginx, the daemon),
/// which must be told their port before they bind it. A port the kernel hands out for port 0 comes from its ephemeral
/// range, the same range every outgoing connection's source port is taken from; in a test run with hundreds of HTTP,
/// PostgreSQL and S3 client connections one of them could take the port between our probe and the server's bind
/// ("address already in use"). So ports are drawn at random from below that range
/// (<c>net.ipv4.ip_local_port_range</c>), where no connect() takes a port, probed with a bind, and handed out at most
/// once per test process.
/// </summary>
public static class LoopbackPorts
{
    private const int Lowest = 20000;
    private static readonly HashSet<int> HandedOut = [];
    private static readonly int FirstEphemeral = ReadFirstEphemeralPort();

    /// <summary>A loopback port nothing listens on now, outside the ephemeral range, not handed out before in this process.</summary>
    public static int Next()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(Lowest, FirstEphemeral);
            lock (HandedOut)
            {
                if (!HandedOut.Contains(port) && IsFree(port))
                {
                    HandedOut.Add(port);
                    return port;
                }
            }
        }

        throw new InvalidOperationException($"no free loopback port between {Lowest} and {FirstEphemeral - 1}");
    }

    private static bool IsFree(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int ReadFirstEphemeralPort()
    {
        const int linuxDefault = 32768;
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            var first = int.Parse(range[0], CultureInfo.InvariantCulture);
            return first > Lowest + 1000 ? first : linuxDefault;
        }
        catch (IOException)
        {
            return linuxDefault;
        }
    }
}
