using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using Grpc.Core;
using Grpc.Net.Compression;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// ByteStream.Write's request messages read at the wire level, straight from the request body: per gRPC frame the
/// WriteRequest's resource_name, write_offset and finish_write are decoded, and its data field is handed out as a
/// slice of the received bytes (<see cref="Data"/>), valid until the next <see cref="MoveNextAsync"/>. The generated
/// reader parsed each message into a ByteString (a copy and a new array per message) before the blob writer copied
/// it again; here the writer takes the bytes from the request pipe's memory.
/// </summary>
/// <remarks>
/// Wire format: each message is a 5-byte prefix (compressed flag, big-endian length) and a WriteRequest
/// { string resource_name = 1; int64 write_offset = 2; bool finish_write = 3; bytes data = 10; }. Fields may come in
/// any order and more than once (the last one counts, as protobuf parses); unknown fields are skipped. A message is
/// read whole before it is handed out, as Grpc.AspNetCore does, so it is bounded by <see cref="ReapiGrpc.MaxMessageBytes"/>
/// (RESOURCE_EXHAUSTED beyond). A compressed message (flag 1, the request's grpc-encoding) is inflated into a pooled
/// buffer with Grpc.AspNetCore's providers. Not valid protobuf, a broken prefix or a body that ends inside a message
/// is INTERNAL, with the texts Grpc.AspNetCore uses.
/// </remarks>
internal sealed class ByteStreamWriteRequests : IDisposable
{
    private const uint ResourceNameTag = (1 << 3) | 2;
    private const uint WriteOffsetTag = 2 << 3;
    private const uint FinishWriteTag = 3 << 3;
    private const uint DataTag = (10 << 3) | 2;

    private readonly PipeReader _body;
    private readonly int _maxMessageBytes;
    private readonly string? _encoding;
    private readonly IList<ICompressionProvider> _providers;
    private SequencePosition? _held; // the end of the message handed out, consumed on the next read
    private byte[]? _inflated;

    public ByteStreamWriteRequests(PipeReader body, string? encoding, IList<ICompressionProvider> providers, int maxMessageBytes)
    {
        _body = body;
        _encoding = encoding;
        _providers = providers;
        _maxMessageBytes = maxMessageBytes;
    }

    /// <summary>The message's resource_name; empty when it has none (Bazel names the resource in the first message only).</summary>
    public string ResourceName { get; private set; } = "";

    public long WriteOffset { get; private set; }

    public bool FinishWrite { get; private set; }

    /// <summary>The message's data bytes, in the request's own buffers; valid until the next <see cref="MoveNextAsync"/>.</summary>
    public ReadOnlySequence<byte> Data { get; private set; }

    /// <summary>Reads the next whole message; false at the end of the request stream.</summary>
    public async ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken)
    {
        if (_held is { } end)
        {
            _body.AdvanceTo(end);
            _held = null;
        }

        while (true)
        {
            var result = await _body.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (TryTakeMessage(buffer, out var payload, out var compressed))
            {
                Parse(compressed ? Inflate(payload) : payload);
                _held = payload.End;
                return true;
            }

            if (result.IsCompleted)
            {
                _body.AdvanceTo(buffer.End);
                return buffer.IsEmpty ? false : throw Internal("Incomplete message.");
            }

            _body.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Releases the message handed out last (a Write may answer before it has read the whole stream) and the inflate buffer.</summary>
    public void Dispose()
    {
        if (_held is { } end)
        {
            _body.AdvanceTo(end);
            _held = null;
        }

        Data = default;
        if (_inflated is not null)
        {
            ArrayPool<byte>.Shared.Return(_inflated);
            _inflated = null;
        }
    }

    /// <summary>The first message in <paramref name="buffer"/> when all of it has arrived.</summary>
    private bool TryTakeMessage(ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out bool compressed)
    {
        payload = default;
        compressed = false;
        if (buffer.Length < 5)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(prefix);
        compressed = prefix[0] switch
        {
            0 => false,
            1 => true,
            _ => throw Internal("Unexpected compressed flag value in message header."),
        };
        var length = BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
        if (length > (uint)_maxMessageBytes)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size."));
        }

        if (buffer.Length - 5 < length)
        {
            return false;
        }

        payload = buffer.Slice(5, length);
        return true;
    }

    /// <summary>A compressed message, inflated into a pooled buffer (kept for the next compressed one).</summary>
    private ReadOnlySequence<byte> Inflate(ReadOnlySequence<byte> payload)
    {
        if (_encoding is null or "identity")
        {
            throw Internal("Request did not include grpc-encoding value with compressed message.");
        }

        var provider = _providers.FirstOrDefault(p => string.Equals(p.EncodingName, _encoding, StringComparison.Ordinal))
            ?? throw new RpcException(new Status(
                StatusCode.Unimplemented,
                $"Unsupported grpc-encoding value '{ClientText.Cut(_encoding)}'. Supported encodings: {string.Join(", ", _providers.Select(p => p.EncodingName))}"));
        _inflated ??= ArrayPool<byte>.Shared.Rent(64 * 1024);
        using var input = provider.CreateDecompressionStream(new MemoryStream(payload.ToArray(), writable: false));
        var length = 0;
        int read;
        while ((read = input.Read(_inflated, length, _inflated.Length - length)) > 0)
        {
            length += read;
            if (length > _maxMessageBytes)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size."));
            }

            if (length == _inflated.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(_inflated.Length * 2, _maxMessageBytes + 1));
                _inflated.AsSpan(0, length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_inflated);
                _inflated = bigger;
            }
        }

        return new ReadOnlySequence<byte>(_inflated, 0, length);
    }

    private void Parse(ReadOnlySequence<byte> message)
    {
        ResourceName = "";
        WriteOffset = 0;
        FinishWrite = false;
        Data = ReadOnlySequence<byte>.Empty;
        var reader = new SequenceReader<byte>(message);
        while (!reader.End)
        {
            var tag = ReadVarint(ref reader);
            switch (tag)
            {
                case ResourceNameTag:
                    var name = ReadLengthDelimited(ref reader);
                    ResourceName = name.IsEmpty ? "" : Encoding.UTF8.GetString(name);
                    break;
                case WriteOffsetTag:
                    WriteOffset = (long)ReadVarint(ref reader);
                    break;
                case FinishWriteTag:
                    FinishWrite = ReadVarint(ref reader) != 0;
                    break;
                case DataTag:
                    Data = ReadLengthDelimited(ref reader);
                    break;
                default:
                    SkipField(ref reader, (int)(tag & 7));
                    break;
            }
        }
    }

    private static ulong ReadVarint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out var b))
            {
                throw Malformed("a varint runs past the end of its message");
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw Malformed("a varint is longer than 10 bytes");
    }

    private static ReadOnlySequence<byte> ReadLengthDelimited(ref SequenceReader<byte> reader)
    {
        var length = ReadVarint(ref reader);
        if (length > (ulong)reader.Remaining)
        {
            throw Malformed($"a field of {length} bytes runs past the end of its message");
        }

        var field = reader.UnreadSequence.Slice(0, (long)length);
        reader.Advance((long)length);
        return field;
    }

    private static void SkipField(ref SequenceReader<byte> reader, int wireType)
    {
        switch (wireType)
        {
            case 0:
                ReadVarint(ref reader);
                break;
            case 1 or 5:
                var width = wireType == 1 ? 8 : 4;
                if (reader.Remaining < width)
                {
                    throw Malformed("a fixed-width field runs past the end of its message");
                }

                reader.Advance(width);
                break;
            case 2:
                ReadLengthDelimited(ref reader);
                break;
            default:
                throw Malformed($"wire type {wireType} is not supported");
        }
    }

    private static RpcException Malformed(string problem) =>
        Internal($"Error parsing message: WriteRequest is not valid protobuf ({problem}).");

    private static RpcException Internal(string detail) => new(new Status(StatusCode.Internal, detail));
}
