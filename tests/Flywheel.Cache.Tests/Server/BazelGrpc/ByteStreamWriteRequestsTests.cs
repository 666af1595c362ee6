using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Flywheel.Cache.Server.BazelGrpc;
using Google.Bytestream;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Compression;
using Microsoft.Extensions.DependencyInjection;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>
/// ByteStream.Write's requests read at the wire level (<see cref="ByteStreamWriteRequests"/>): what protobuf would
/// parse, from bytes that arrive in any pieces; malformed, oversized and compressed messages with the statuses
/// Grpc.AspNetCore gives; and, against a real daemon, the same statuses over HTTP/2 and nothing kept or stored.
/// </summary>
public sealed class ByteStreamWriteRequestsTests : IClassFixture<DaemonFixture>
{
    private const string WritePath = "/google.bytestream.ByteStream/Write";
    private static readonly IList<ICompressionProvider> Gzip = [new GzipCompressionProvider(CompressionLevel.Fastest)];

    private readonly DaemonFixture _daemon;

    public ByteStreamWriteRequestsTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    [InlineData(1 << 20)]
    public async Task Messages_arriving_in_any_pieces_are_handed_out_whole_with_their_fields(int piece)
    {
        var requests = new[]
        {
            new WriteRequest { ResourceName = "uploads/u/blobs/abc/30000", Data = ByteString.CopyFrom(ReapiServiceTests.RandomBytes(10_000)) },
            new WriteRequest { WriteOffset = 10_000, Data = ByteString.CopyFrom(ReapiServiceTests.RandomBytes(20_000)) },
            new WriteRequest { WriteOffset = 30_000, FinishWrite = true },
        };
        var body = requests.SelectMany(r => GrpcStackTests.Frame(r.ToByteArray())).ToArray();

        var read = await ReadAllAsync(body, piece);

        Assert.Equal(requests, read);
    }

    [Fact]
    public async Task Fields_in_any_order_repeated_or_unknown_are_read_as_protobuf_reads_them()
    {
        var message = new MemoryStream();
        var output = new CodedOutputStream(message);
        output.WriteTag(10, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFromUtf8("first data"));
        output.WriteTag(3, WireFormat.WireType.Varint);
        output.WriteBool(true);
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteString("uploads/a/blobs/x/1");
        output.WriteTag(99, WireFormat.WireType.Fixed32);
        output.WriteFixed32(7);
        output.WriteTag(98, WireFormat.WireType.Fixed64);
        output.WriteFixed64(7);
        output.WriteTag(97, WireFormat.WireType.LengthDelimited);
        output.WriteString("unknown");
        output.WriteTag(2, WireFormat.WireType.Varint);
        output.WriteInt64(-5);
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteString("uploads/b/blobs/y/2"); // the last one counts
        output.WriteTag(2, WireFormat.WireType.Fixed64); // write_offset with the wrong wire type: an unknown field
        output.WriteFixed64(12345);
        output.WriteTag(10, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFromUtf8("last data"));
        output.Flush();
        var payload = message.ToArray();

        var read = Assert.Single(await ReadAllAsync(GrpcStackTests.Frame(payload), 3));

        var parsed = WriteRequest.Parser.ParseFrom(payload); // keeps the unknown fields, which ours skips
        var expected = new WriteRequest { ResourceName = parsed.ResourceName, WriteOffset = parsed.WriteOffset, FinishWrite = parsed.FinishWrite, Data = parsed.Data };
        Assert.Equal(expected, read);
        Assert.Equal("uploads/b/blobs/y/2", read.ResourceName);
        Assert.Equal(-5, read.WriteOffset);
    }

    public static TheoryData<byte[], string> Malformed => new()
    {
        { GrpcStackTests.Frame([0x52, 0x80]), "varint runs past the end" },
        { GrpcStackTests.Frame([0x52, 0x05, 1, 2]), "field of 5 bytes runs past the end" },
        { GrpcStackTests.Frame([0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), "longer than 10 bytes" },
        { GrpcStackTests.Frame([0x0B, 0x0C]), "wire type 3" },
        { GrpcStackTests.Frame([0x0D, 1, 2]), "fixed-width field runs past the end" },
        { [2, 0, 0, 0, 0], "Unexpected compressed flag" },
        { GrpcStackTests.Frame(new byte[10])[..12], "Incomplete message." },
        { [0, 0, 0], "Incomplete message." },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_requests_are_internal_errors_naming_the_problem(byte[] body, string problem)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(body, 5));

        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Contains(problem, error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_over_the_limit_is_resource_exhausted_before_it_has_arrived()
    {
        var prefix = GrpcStackTests.Frame(new byte[1001])[..5]; // announces 1,001 bytes; none of them follow

        var error = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(prefix, 5, maxMessageBytes: 1000));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task Compressed_messages_are_inflated_with_the_request_encoding()
    {
        var request = new WriteRequest { ResourceName = "uploads/u/blobs/abc/200000", Data = ByteString.CopyFrom(new byte[200_000]), FinishWrite = true };
        var gzipped = GzipOf(request.ToByteArray());

        Assert.Equal([request], await ReadAllAsync(GrpcStackTests.Frame(gzipped, compressed: true), 4096, "gzip"));

        var noEncoding = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(GrpcStackTests.Frame(gzipped, compressed: true), 4096, null));
        Assert.Equal(StatusCode.Internal, noEncoding.StatusCode);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(GrpcStackTests.Frame(gzipped, compressed: true), 4096, "br"));
        Assert.Equal(StatusCode.Unimplemented, unknown.StatusCode);
        var bomb = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(GrpcStackTests.Frame(gzipped, compressed: true), 4096, "gzip", maxMessageBytes: 100_000));
        Assert.Equal(StatusCode.ResourceExhausted, bomb.StatusCode);
    }

    [Fact]
    public async Task Over_http2_a_malformed_message_is_internal_and_the_bytes_before_it_can_be_resumed()
    {
        var data = ReapiServiceTests.RandomBytes(50_000);
        var digest = ReapiClient.DigestOf(data);
        var resource = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        var first = new WriteRequest { ResourceName = resource, Data = ByteString.CopyFrom(data[..20_000]) };
        var body = GrpcStackTests.Frame(first.ToByteArray()).Concat(GrpcStackTests.Frame([0x52, 0x80])).ToArray();

        var (status, _, _) = await GrpcStackTests.RawCallAsync(_daemon.GrpcAddress, WritePath, body, Auth(_daemon.AdminToken));

        Assert.Equal(((int)StatusCode.Internal).ToString(System.Globalization.CultureInfo.InvariantCulture), status);
        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        Assert.Single((await client.FindMissingAsync(digest)).MissingBlobDigests);
        Assert.Equal(20_000, (await client.QueryWriteStatusAsync(resource)).CommittedSize); // the valid first message may be resumed
        Assert.Equal(data.Length, (await client.WriteAsync(resource, data, offset: 20_000)).CommittedSize);
        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));
    }

    [Fact]
    public async Task Over_http2_the_resource_name_and_token_are_checked_before_any_bytes_are_taken()
    {
        var data = ReapiServiceTests.RandomBytes(30_000);
        var digest = ReapiClient.DigestOf(data);
        var pullToken = await _daemon.CreateTokenAsync("main", "pull");
        var uploads = _daemon.Services.GetRequiredService<ByteStreamUploads>();

        foreach (var (resource, token, expected) in new[]
                 {
                     ($"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/../../{digest.SizeBytes}", _daemon.AdminToken, StatusCode.InvalidArgument),
                     ($"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", pullToken, StatusCode.PermissionDenied),
                     ($"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", "fw1_wrong", StatusCode.Unauthenticated),
                 })
        {
            var message = new WriteRequest { ResourceName = resource, Data = ByteString.CopyFrom(data), FinishWrite = true };
            var (status, _, _) = await GrpcStackTests.RawCallAsync(_daemon.GrpcAddress, WritePath, GrpcStackTests.Frame(message.ToByteArray()), Auth(token));

            Assert.Equal(((int)expected).ToString(System.Globalization.CultureInfo.InvariantCulture), status);
            Assert.Null(uploads.Committed(resource)); // no upload was begun, so none is kept
        }

        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        Assert.Single((await client.FindMissingAsync(digest)).MissingBlobDigests);
    }

    [Fact]
    public async Task Over_http2_a_gap_in_the_offsets_or_a_missing_finish_write_stores_nothing()
    {
        var data = ReapiServiceTests.RandomBytes(40_000);
        var digest = ReapiClient.DigestOf(data);
        WriteRequest First() => new() { ResourceName = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", Data = ByteString.CopyFrom(data[..10_000]) };
        var gap = new WriteRequest { WriteOffset = 20_000, Data = ByteString.CopyFrom(data[20_000..]), FinishWrite = true };
        var rest = new WriteRequest { WriteOffset = 10_000, Data = ByteString.CopyFrom(data[10_000..]) }; // no finish_write

        foreach (var body in new[] { Frames(First(), gap), Frames(First(), rest) })
        {
            var (status, _, _) = await GrpcStackTests.RawCallAsync(_daemon.GrpcAddress, WritePath, body, Auth(_daemon.AdminToken));
            Assert.Equal(((int)StatusCode.InvalidArgument).ToString(System.Globalization.CultureInfo.InvariantCulture), status);
        }

        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        Assert.Single((await client.FindMissingAsync(digest)).MissingBlobDigests);
        var finished = Frames(First(), new WriteRequest { WriteOffset = 10_000, Data = ByteString.CopyFrom(data[10_000..]), FinishWrite = true });
        var (ok, _, frames) = await GrpcStackTests.RawCallAsync(_daemon.GrpcAddress, WritePath, finished, Auth(_daemon.AdminToken));
        Assert.Equal("0", ok);
        Assert.Equal(data.Length, WriteResponse.Parser.ParseFrom(Assert.Single(frames).Payload).CommittedSize);
        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));
    }

    [Fact]
    public async Task Over_http2_a_gzip_compressed_write_is_stored()
    {
        var data = new byte[300_000];
        ReapiServiceTests.RandomBytes(1000).CopyTo(data, 0);
        var digest = ReapiClient.DigestOf(data);
        var message = new WriteRequest { ResourceName = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", Data = ByteString.CopyFrom(data), FinishWrite = true };
        var headers = Auth(_daemon.AdminToken);
        headers["grpc-encoding"] = "gzip";

        var (status, _, _) = await GrpcStackTests.RawCallAsync(_daemon.GrpcAddress, WritePath, GrpcStackTests.Frame(GzipOf(message.ToByteArray()), compressed: true), headers);

        Assert.Equal("0", status);
        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        Assert.Equal(data, await client.ReadAsync($"blobs/{digest.Hash}/{digest.SizeBytes}"));
    }

    private static Dictionary<string, string> Auth(string token) => new() { ["authorization"] = "Bearer " + token };

    private static byte[] Frames(params WriteRequest[] requests) => requests.SelectMany(r => GrpcStackTests.Frame(r.ToByteArray())).ToArray();

    private static byte[] GzipOf(byte[] bytes)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(bytes);
        }

        return output.ToArray();
    }

    /// <summary>Feeds <paramref name="body"/> into a pipe <paramref name="piece"/> bytes at a time while the reader reads; returns what it read, as messages.</summary>
    private static async Task<List<WriteRequest>> ReadAllAsync(byte[] body, int piece, string? encoding = null, int maxMessageBytes = ReapiGrpc.MaxMessageBytes)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 4096));
        var feeding = Task.Run(async () =>
        {
            for (var position = 0; position < body.Length; position += piece)
            {
                await pipe.Writer.WriteAsync(body.AsMemory(position, Math.Min(piece, body.Length - position)));
            }

            await pipe.Writer.CompleteAsync();
        });
        var read = new List<WriteRequest>();
        using (var requests = new ByteStreamWriteRequests(pipe.Reader, encoding, Gzip, maxMessageBytes))
        {
            while (await requests.MoveNextAsync(CancellationToken.None))
            {
                read.Add(new WriteRequest
                {
                    ResourceName = requests.ResourceName,
                    WriteOffset = requests.WriteOffset,
                    FinishWrite = requests.FinishWrite,
                    Data = ByteString.CopyFrom(requests.Data.ToArray()),
                });
            }
        }

        await feeding;
        return read;
    }
}
