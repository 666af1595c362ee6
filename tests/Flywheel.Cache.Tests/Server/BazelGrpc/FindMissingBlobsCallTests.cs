using System.Buffers;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Server.BazelGrpc;
using Google.Protobuf;
using Grpc.Core;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>The wire-level FindMissingBlobs codec against Google.Protobuf's own encoding and parsing.</summary>
public sealed class FindMissingBlobsCallTests
{
    private static Digest NewDigest(int i) =>
        new() { Hash = Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(i))), SizeBytes = i * 1000L };

    private static FindMissingBlobsCall Decode(byte[] bytes) => FindMissingBlobsCall.Decode(new ReadOnlySequence<byte>(bytes));

    [Fact]
    public void The_answer_is_the_requests_own_digests_at_the_missing_positions_in_order()
    {
        var request = new FindMissingBlobsRequest { InstanceName = "main", DigestFunction = DigestFunction.Types.Value.Sha256 };
        request.BlobDigests.AddRange(Enumerable.Range(0, 300).Select(NewDigest));
        using var call = Decode(request.ToByteArray());

        call.Answer([0, 7, 299]);
        var output = new ArrayBufferWriter<byte>();
        call.WriteTo(output);

        Assert.Equal("main", call.InstanceName);
        Assert.Equal(DigestFunction.Types.Value.Sha256, call.DigestFunction);
        Assert.Equal(300, call.Count);
        Assert.Equal(request.BlobDigests.Select(d => (d.Hash, d.SizeBytes)), call.Digests.Select(d => (d.Hash.ToHex(), d.SizeBytes)));
        Assert.Equal(call.Length, output.WrittenCount);
        var response = FindMissingBlobsResponse.Parser.ParseFrom(output.WrittenSpan);
        Assert.Equal([request.BlobDigests[0], request.BlobDigests[7], request.BlobDigests[299]], response.MissingBlobDigests);
    }

    [Fact]
    public void A_request_split_over_many_segments_decodes_the_same()
    {
        var request = new FindMissingBlobsRequest { InstanceName = "ci" };
        request.BlobDigests.AddRange(Enumerable.Range(0, 50).Select(NewDigest));
        var bytes = request.ToByteArray();

        using var call = FindMissingBlobsCall.Decode(Segments(bytes, 13));

        Assert.Equal("ci", call.InstanceName);
        Assert.Equal(DigestFunction.Types.Value.Unknown, call.DigestFunction); // unset
        Assert.Equal(request.BlobDigests.Select(d => d.Hash), call.Digests.Select(d => d.Hash.ToHex()));
    }

    [Fact]
    public void Unknown_fields_are_skipped_and_kept_in_the_echoed_digest()
    {
        var digest = NewDigest(1);
        var extended = new CodedOutputBuilder()
            .Tag(1, 2).Bytes(System.Text.Encoding.UTF8.GetBytes(digest.Hash))
            .Tag(9, 0).Varint(12345)
            .Tag(2, 0).Varint((ulong)digest.SizeBytes)
            .Tag(10, 5).Fixed(4)
            .Tag(11, 1).Fixed(8)
            .ToArray();
        var request = new CodedOutputBuilder()
            .Tag(15, 2).Bytes([1, 2, 3])
            .Tag(2, 2).Bytes(extended)
            .Tag(1, 2).Bytes("main"u8.ToArray())
            .Tag(3, 0).Varint(1)
            .ToArray();

        using var call = Decode(request);
        call.Answer([0]);
        var output = new ArrayBufferWriter<byte>();
        call.WriteTo(output);

        Assert.Equal("main", call.InstanceName);
        Assert.Equal((digest.Hash, digest.SizeBytes), (call.Digests[0].Hash.ToHex(), call.Digests[0].SizeBytes));
        var echoed = Assert.Single(FindMissingBlobsResponse.Parser.ParseFrom(output.WrittenSpan).MissingBlobDigests);
        Assert.Equal((digest.Hash, digest.SizeBytes), (echoed.Hash, echoed.SizeBytes));
    }

    [Theory]
    [InlineData(new byte[] { 0x12, 0x05, 0x0A })] // a digest longer than the message
    [InlineData(new byte[] { 0x12 })] // a tag without its length
    [InlineData(new byte[] { 0x1B })] // wire type 3 (groups)
    [InlineData(new byte[] { 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })] // an 11-byte varint
    public void Malformed_protobuf_is_an_internal_parse_error(byte[] bytes)
    {
        var e = Assert.Throws<RpcException>(() => Decode(bytes));

        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.StartsWith("Error parsing message", e.Status.Detail);
    }

    [Theory]
    [InlineData("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789", 1)]
    [InlineData("abc", 1)]
    [InlineData("", 0)]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", -1)]
    public void A_digest_that_is_not_sha256_at_a_real_size_is_invalid_and_named(string hash, long size)
    {
        var request = new FindMissingBlobsRequest();
        request.BlobDigests.Add(NewDigest(1));
        request.BlobDigests.Add(new Digest { Hash = hash, SizeBytes = size });

        var e = Assert.Throws<CacheException>(() => Decode(request.ToByteArray()));

        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("blob_digests", e.Message);
    }

    [Fact]
    public void An_empty_request_asks_for_nothing_and_answers_nothing()
    {
        using var call = Decode([]);
        call.Answer([]);

        Assert.Equal("", call.InstanceName);
        Assert.Empty(call.Digests);
        Assert.Equal(0, call.Length);
    }

    [Fact]
    public void Disposing_twice_is_harmless()
    {
        var request = new FindMissingBlobsRequest();
        request.BlobDigests.Add(NewDigest(2));
        var call = Decode(request.ToByteArray());

        call.Dispose();
        call.Dispose();

        Assert.Empty(call.Digests);
    }

    private static ReadOnlySequence<byte> Segments(byte[] bytes, int size)
    {
        Segment? first = null;
        Segment? last = null;
        for (var offset = 0; offset < bytes.Length; offset += size)
        {
            var memory = bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset));
            last = last is null ? first = new Segment(memory, 0) : last.Append(memory);
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>Hand-made protobuf, for fields the generated classes do not have.</summary>
    private sealed class CodedOutputBuilder
    {
        private readonly List<byte> _bytes = [];

        public CodedOutputBuilder Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

        public CodedOutputBuilder Varint(ulong value)
        {
            while (value >= 0x80)
            {
                _bytes.Add((byte)(value | 0x80));
                value >>= 7;
            }

            _bytes.Add((byte)value);
            return this;
        }

        public CodedOutputBuilder Bytes(byte[] bytes)
        {
            Varint((ulong)bytes.Length);
            _bytes.AddRange(bytes);
            return this;
        }

        public CodedOutputBuilder Fixed(int width)
        {
            _bytes.AddRange(new byte[width]);
            return this;
        }

        public byte[] ToArray() => [.. _bytes];
    }
}
