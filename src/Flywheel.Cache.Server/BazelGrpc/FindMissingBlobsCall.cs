using System.Buffers;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Storage;
using Grpc.Core;
using DigestFunctionValue = Build.Bazel.Remote.Execution.V2.DigestFunction.Types.Value;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// One FindMissingBlobs call without protobuf message objects. A 10,000-digest request parsed by Google.Protobuf is
/// 10,000 Digest objects and 10,000 hex strings (2–4 ms), and the answer re-encodes the strings (about 1.5 ms for
/// 5,000): more than the index lookup costs. Here the request is copied once into a pooled buffer and read at the
/// wire level: each digest's hash is decoded straight from its UTF-8 bytes, and the answer is the request's own
/// encoded Digest messages, copied as bytes (tag, length, bytes), in request order.
/// </summary>
/// <remarks>
/// Wire format (REAPI v2): FindMissingBlobsRequest { string instance_name = 1; repeated Digest blob_digests = 2;
/// DigestFunction.Value digest_function = 3; } with Digest { string hash = 1; int64 size_bytes = 2; };
/// FindMissingBlobsResponse { repeated Digest missing_blob_digests = 2; }. Unknown fields are skipped as protobuf
/// does; a message that is not valid protobuf is INTERNAL ("Error parsing message", like the generated parser), a
/// digest that is not SHA-256 at a non-negative size is INVALID_ARGUMENT with the same text as the other methods.
/// digest_function is read into <see cref="DigestFunction"/> for the handler to check. Pooled buffers go back on Dispose.
/// </remarks>
internal sealed class FindMissingBlobsCall : IDisposable
{
    private const byte MissingDigestsTag = (2 << 3) | 2; // FindMissingBlobsResponse.missing_blob_digests, length-delimited

    private byte[]? _message;
    private int[]? _starts; // per digest: where its encoded Digest message starts in _message
    private int[]? _lengths;
    private BazelDigest[]? _digests;
    private IReadOnlyList<int> _missing = [];

    private FindMissingBlobsCall()
    {
    }

    public string InstanceName { get; private set; } = "";

    /// <summary>The request's digest_function (UNKNOWN when unset, as before REAPI 2.3).</summary>
    public DigestFunctionValue DigestFunction { get; private set; }

    public int Count { get; private set; }

    /// <summary>The asked digests, in request order.</summary>
    public IReadOnlyList<BazelDigest> Digests => new ArraySegment<BazelDigest>(_digests ?? [], 0, Count);

    public int Length { get; private set; }

    /// <summary>Decodes a request; the bytes are copied, so <paramref name="payload"/> may go once this returns.</summary>
    public static FindMissingBlobsCall Decode(ReadOnlySequence<byte> payload)
    {
        var call = new FindMissingBlobsCall();
        try
        {
            var length = checked((int)payload.Length);
            call._message = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
            payload.CopyTo(call._message);
            call.Parse(call._message.AsSpan(0, length));
            return call;
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    /// <summary>Sets the answer: ascending positions in <see cref="Digests"/> of the missing ones.</summary>
    public void Answer(IReadOnlyList<int> missingPositions)
    {
        var length = 0L;
        foreach (var i in missingPositions)
        {
            length += 1 + VarintSize((uint)_lengths![i]) + _lengths[i];
        }

        _missing = missingPositions;
        Length = checked((int)length);
    }

    public void WriteTo(IBufferWriter<byte> output)
    {
        foreach (var i in _missing)
        {
            var digest = _message.AsSpan(_starts![i], _lengths![i]);
            var span = output.GetSpan(1 + 5 + digest.Length);
            span[0] = MissingDigestsTag;
            var n = 1 + WriteVarint(span[1..], (uint)digest.Length);
            digest.CopyTo(span[n..]);
            output.Advance(n + digest.Length);
        }
    }

    public void Dispose()
    {
        PooledArrays.Return(ref _message);
        PooledArrays.Return(ref _starts);
        PooledArrays.Return(ref _lengths);
        PooledArrays.Return(ref _digests);
        Count = 0;
    }

    private void Parse(ReadOnlySpan<byte> message)
    {
        // A Digest message takes at least 70 bytes on the wire; the estimate only sizes the first rental.
        var capacity = Math.Max(16, message.Length / 70 + 1);
        _starts = ArrayPool<int>.Shared.Rent(capacity);
        _lengths = ArrayPool<int>.Shared.Rent(capacity);
        _digests = ArrayPool<BazelDigest>.Shared.Rent(capacity);
        var position = 0;
        while (position < message.Length)
        {
            var tag = ReadVarint(message, ref position);
            var wireType = (int)(tag & 7);
            switch (tag >> 3)
            {
                case 1 when wireType == 2:
                    InstanceName = Encoding.UTF8.GetString(ReadLengthDelimited(message, ref position));
                    break;
                case 2 when wireType == 2:
                    var digest = ReadLengthDelimited(message, ref position);
                    Add(position - digest.Length, digest);
                    break;
                case 3 when wireType == 0:
                    DigestFunction = (DigestFunctionValue)(int)ReadVarint(message, ref position);
                    break;
                default:
                    SkipField(message, ref position, wireType);
                    break;
            }
        }
    }

    private void Add(int start, ReadOnlySpan<byte> encoded)
    {
        if (Count == _digests!.Length)
        {
            Grow(ref _starts!, Count);
            Grow(ref _lengths!, Count);
            Grow(ref _digests!, Count);
        }

        _starts![Count] = start;
        _lengths![Count] = encoded.Length;
        _digests[Count] = ParseDigest(encoded);
        Count++;
    }

    private static void Grow<T>(ref T[] array, int used)
    {
        var bigger = ArrayPool<T>.Shared.Rent(array.Length * 2);
        array.AsSpan(0, used).CopyTo(bigger);
        ArrayPool<T>.Shared.Return(array);
        array = bigger;
    }

    private static BazelDigest ParseDigest(ReadOnlySpan<byte> encoded)
    {
        ReadOnlySpan<byte> hash = default;
        long size = 0;
        var position = 0;
        while (position < encoded.Length)
        {
            var tag = ReadVarint(encoded, ref position);
            var wireType = (int)(tag & 7);
            switch (tag >> 3)
            {
                case 1 when wireType == 2:
                    hash = ReadLengthDelimited(encoded, ref position);
                    break;
                case 2 when wireType == 0:
                    size = (long)ReadVarint(encoded, ref position);
                    break;
                default:
                    SkipField(encoded, ref position, wireType);
                    break;
            }
        }

        Span<char> hex = stackalloc char[BlobDigest.HexLength];
        if (hash.Length == BlobDigest.HexLength)
        {
            for (var i = 0; i < hex.Length; i++)
            {
                hex[i] = (char)hash[i]; // bytes above 0x7F become characters that are not hex digits
            }

            if (BazelDigest.TryParse(hex, size, out var digest))
            {
                return digest;
            }
        }

        // Not valid: the same error, with the same text, as every other method gives for a bad digest.
        return BazelDigest.From(new Digest { Hash = Encoding.UTF8.GetString(hash), SizeBytes = size }, "blob_digests");
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= data.Length)
            {
                throw Malformed("a varint runs past the end of its message");
            }

            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw Malformed("a varint is longer than 10 bytes");
    }

    private static ReadOnlySpan<byte> ReadLengthDelimited(ReadOnlySpan<byte> data, scoped ref int position)
    {
        var length = ReadVarint(data, ref position);
        if (length > (ulong)(data.Length - position))
        {
            throw Malformed($"a field of {length} bytes runs past the end of its message");
        }

        var field = data.Slice(position, (int)length);
        position += (int)length;
        return field;
    }

    private static void SkipField(ReadOnlySpan<byte> data, ref int position, int wireType)
    {
        switch (wireType)
        {
            case 0:
                ReadVarint(data, ref position);
                break;
            case 1 or 5:
                var width = wireType == 1 ? 8 : 4;
                if (data.Length - position < width)
                {
                    throw Malformed("a fixed-width field runs past the end of its message");
                }

                position += width;
                break;
            case 2:
                ReadLengthDelimited(data, ref position);
                break;
            default:
                throw Malformed($"wire type {wireType} is not supported");
        }
    }

    private static RpcException Malformed(string problem) =>
        new(new Status(StatusCode.Internal, $"Error parsing message: FindMissingBlobsRequest is not valid protobuf ({problem})."));

    /// <summary>Bytes a protobuf varint of <paramref name="value"/> takes.</summary>
    internal static int VarintSize(uint value) => value < 1 << 7 ? 1 : value < 1 << 14 ? 2 : value < 1 << 21 ? 3 : value < 1 << 28 ? 4 : 5;

    /// <summary>Writes a protobuf varint; returns the bytes written (<see cref="VarintSize"/>).</summary>
    internal static int WriteVarint(Span<byte> destination, uint value)
    {
        var n = 0;
        while (value >= 0x80)
        {
            destination[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[n++] = (byte)value;
        return n;
    }
}
