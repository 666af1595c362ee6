namespace Flywheel.Cache.Grpc.Protocol;

/// <summary>Names and values of the gRPC over HTTP/2 protocol.</summary>
internal static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string ContentTypeProto = "application/grpc+proto";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string StatusDetailsHeader = "grpc-status-details-bin";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string IdentityEncoding = "identity";
    public const string BinaryHeaderSuffix = "-bin";

    /// <summary>
    /// True for <c>application/grpc</c> and <c>application/grpc+proto</c> (case-insensitive, parameters
    /// after ';' ignored). Other <c>application/grpc+*</c> subtypes (json, custom) and grpc-web are not ours.
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return false;
        }

        ReadOnlySpan<char> value = contentType;
        int semicolon = value.IndexOf(';');
        if (semicolon >= 0)
        {
            value = value[..semicolon];
        }

        value = value.Trim();
        return value.Equals(ContentType, StringComparison.OrdinalIgnoreCase)
            || value.Equals(ContentTypeProto, StringComparison.OrdinalIgnoreCase);
    }
}
