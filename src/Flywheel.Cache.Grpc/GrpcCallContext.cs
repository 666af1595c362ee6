using Flywheel.Cache.Grpc.Protocol;
using Microsoft.AspNetCore.Http;

namespace Flywheel.Cache.Grpc;

/// <summary>What a handler knows about its call: metadata, deadline, cancellation, response trailers.</summary>
public sealed class GrpcCallContext
{
    private List<KeyValuePair<string, string>>? _trailers;

    internal GrpcCallContext(HttpContext httpContext, string method, CancellationToken cancellationToken, DateTimeOffset? deadline)
    {
        HttpContext = httpContext;
        Method = method;
        CancellationToken = cancellationToken;
        Deadline = deadline;
    }

    public HttpContext HttpContext { get; }

    /// <summary>The full method name, "/package.Service/Method".</summary>
    public string Method { get; }

    /// <summary>Cancelled when the client goes away (RST_STREAM, connection lost) or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>When the call's <c>grpc-timeout</c> runs out; null when the client sent none.</summary>
    public DateTimeOffset? Deadline { get; }

    /// <summary>True once a response message has been written (the response is no longer trailers-only).</summary>
    internal bool ResponseMessageWritten { get; set; }

    internal IReadOnlyList<KeyValuePair<string, string>>? ResponseTrailers => _trailers;

    /// <summary>An ASCII metadata value (request header), e.g. "authorization"; repeated values joined by ','.</summary>
    public string? GetHeader(string name)
    {
        var values = HttpContext.Request.Headers[name];
        return values.Count == 0 ? null : values.ToString();
    }

    /// <summary>A binary ("-bin") metadata value, base64-decoded (padding optional); null when absent or not base64.</summary>
    public byte[]? GetBinaryHeader(string name)
    {
        string? value = GetHeader(name);
        return value is null ? null : GrpcBinaryMetadata.Decode(value);
    }

    /// <summary>Adds custom trailing metadata, sent with the status (in the headers of a trailers-only response).</summary>
    public void AddResponseTrailer(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"Trailer names starting with 'grpc-' are reserved: '{name}'.", nameof(name));
        }

        (_trailers ??= []).Add(new(name.ToLowerInvariant(), value));
    }

    /// <summary>Adds binary trailing metadata; <paramref name="name"/> must end with "-bin". Sent base64, unpadded.</summary>
    public void AddResponseTrailer(string name, ReadOnlySpan<byte> value)
    {
        if (!name.EndsWith(GrpcProtocol.BinaryHeaderSuffix, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"Binary metadata names must end with '-bin': '{name}'.", nameof(name));
        }

        AddResponseTrailer(name, GrpcBinaryMetadata.Encode(value));
    }
}
