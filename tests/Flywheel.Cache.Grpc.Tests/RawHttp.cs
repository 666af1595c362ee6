using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>Plain HttpClient requests, to see the wire-level answer (HTTP status, headers, trailers).</summary>
internal static class RawHttp
{
    public static byte[] Frames(params IMessage[] messages)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (IMessage message in messages)
        {
            GrpcFraming.WriteMessage(buffer, message, int.MaxValue);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static async Task<(HttpResponseMessage Response, byte[] Body)> PostAsync(
        Uri baseAddress,
        string path,
        byte[] body,
        string? contentType = "application/grpc",
        Version? version = null,
        IDictionary<string, string>? headers = null,
        string method = "POST")
    {
        using var client = new HttpClient();
        var request = new HttpRequestMessage(new HttpMethod(method), new Uri(baseAddress, path))
        {
            Version = version ?? HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = contentType is null ? null : MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TE.ParseAdd("trailers");
        foreach ((string name, string value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        HttpResponseMessage response = await client.SendAsync(request);
        byte[] bytes = await response.Content.ReadAsByteArrayAsync();
        return (response, bytes);
    }

    public static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out IEnumerable<string>? values) ? string.Join(',', values) : null;
}
