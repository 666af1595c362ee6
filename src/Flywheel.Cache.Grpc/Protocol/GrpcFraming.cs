using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace Flywheel.Cache.Grpc.Protocol;

/// <summary>
/// The gRPC length-prefixed message: 1-byte compressed flag, 4-byte big-endian length, message bytes.
/// Frame boundaries are unrelated to HTTP/2 DATA frame boundaries.
/// </summary>
public static class GrpcFraming
{
    /// <summary>Size of the prefix before each message.</summary>
    public const int HeaderSize = 5;

    /// <summary>
    /// Takes one whole message off the front of <paramref name="buffer"/>. Returns false (and leaves the
    /// buffer alone) when the buffer does not yet hold a whole message. Throws <see cref="GrpcException"/>
    /// RESOURCE_EXHAUSTED as soon as the prefix announces a message over <paramref name="maxMessageSize"/>,
    /// and INTERNAL for a set compressed flag (this layer supports identity encoding only, so a set flag
    /// is either a flag without <c>grpc-encoding</c> or an encoding refused earlier).
    /// </summary>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, int maxMessageSize, out ReadOnlySequence<byte> message)
    {
        if (buffer.Length < HeaderSize)
        {
            message = default;
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        byte flag = header[0];
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);

        if (flag != 0)
        {
            ThrowCompressed(flag);
        }

        if (length > (uint)maxMessageSize)
        {
            ThrowTooLarge(length, maxMessageSize);
        }

        if (buffer.Length - HeaderSize < length)
        {
            message = default;
            return false;
        }

        message = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(message.End);
        return true;
    }

    /// <summary>
    /// Writes <paramref name="message"/> with its prefix into <paramref name="output"/>, serializing
    /// straight into the writer's buffers. Does not flush.
    /// </summary>
    public static void WriteMessage(IBufferWriter<byte> output, IMessage message, int maxMessageSize)
    {
        int size = message.CalculateSize();
        WritePrefix(output, size, maxMessageSize);
        if (size > 0)
        {
            message.WriteTo(output);
        }
    }

    /// <summary>Writes a self-encoded message with its prefix; RESOURCE_EXHAUSTED over <paramref name="maxMessageSize"/>.</summary>
    public static void WritePayload(IBufferWriter<byte> output, IGrpcPayload payload, int maxMessageSize)
    {
        WritePrefix(output, payload.Length, maxMessageSize);
        payload.WriteTo(output);
    }

    /// <summary>The 5-byte prefix (uncompressed, length); RESOURCE_EXHAUSTED when the message is over the limit.</summary>
    private static void WritePrefix(IBufferWriter<byte> output, int size, int maxMessageSize)
    {
        if (size > maxMessageSize)
        {
            throw new GrpcException(
                GrpcStatusCode.ResourceExhausted,
                $"Sending message larger than max ({size} vs. {maxMessageSize}).");
        }

        Span<byte> header = output.GetSpan(HeaderSize);
        header[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
        output.Advance(HeaderSize);
    }

    private static void ThrowCompressed(byte flag) =>
        throw new GrpcException(
            GrpcStatusCode.Internal,
            flag == 1
                ? "Received a compressed message, but no message encoding was negotiated (supported: identity)."
                : $"Invalid compressed flag {flag} in message prefix.");

    private static void ThrowTooLarge(uint length, int max) =>
        throw new GrpcException(
            GrpcStatusCode.ResourceExhausted,
            $"Received message larger than max ({length} vs. {max}).");
}
