using System.Net.Sockets;
using System.Text;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// HTTP/1.1 over a bare socket, for requests HttpClient cannot make: a request that declares a large body, sends only
/// part of it and waits for the answer. A server that reads the body before answering never answers it.
/// </summary>
public static class RawHttp
{
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body);

    /// <summary>
    /// Sends the head with <c>Content-Length: <paramref name="declaredLength"/></c>, then <paramref name="sent"/>, and
    /// reads the response; throws <see cref="TimeoutException"/> when none comes within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<Response> SendPartialAsync(
        Uri baseAddress, string method, string path, string? token, long declaredLength, byte[] sent, TimeSpan timeout)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = tcp.GetStream();
        var head = new StringBuilder()
            .Append($"{method} {path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nContent-Type: application/json\r\n")
            .Append($"Content-Length: {declaredLength}\r\n");
        if (token is not null)
        {
            head.Append($"Authorization: Bearer {token}\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        await stream.WriteAsync(sent);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await ReadResponseAsync(stream, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"{method} {path}: no response within {timeout} after {sent.Length} of {declaredLength} declared body bytes");
        }
    }

    private static async Task<Response> ReadResponseAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int headEnd;
        while ((headEnd = IndexOfHeadEnd(buffer)) < 0)
        {
            var n = await stream.ReadAsync(chunk, cancellationToken);
            if (n == 0)
            {
                throw new IOException("the server closed the connection before a response head");
            }

            buffer.Write(chunk, 0, n);
        }

        var bytes = buffer.ToArray();
        var lines = Encoding.ASCII.GetString(bytes, 0, headEnd).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = new MemoryStream();
        body.Write(bytes, headEnd + 4, bytes.Length - headEnd - 4);
        var length = headers.TryGetValue("Content-Length", out var l) ? long.Parse(l, System.Globalization.CultureInfo.InvariantCulture) : 0;
        while (body.Length < length)
        {
            var n = await stream.ReadAsync(chunk, cancellationToken);
            if (n == 0)
            {
                break;
            }

            body.Write(chunk, 0, n);
        }

        return new Response(status, headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    private static int IndexOfHeadEnd(MemoryStream buffer) =>
        buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOf("\r\n\r\n"u8);
}
