using System.Buffers;

namespace Flywheel.Cache.Grpc;

/// <summary>
/// A response message its handler encodes itself, already in protobuf wire format: for hot methods where building
/// message objects would cost more than the work (FindMissingBlobs answers with byte ranges of its request). Mapped
/// with <see cref="GrpcEndpointRouteBuilderExtensions.MapGrpcUnaryRaw{TRequest}"/>.
/// </summary>
public interface IGrpcPayload
{
    /// <summary>The encoded message's length in bytes.</summary>
    int Length { get; }

    /// <summary>Writes exactly <see cref="Length"/> bytes, in pieces as small as it likes (no contiguous buffer of the whole).</summary>
    void WriteTo(IBufferWriter<byte> output);
}
