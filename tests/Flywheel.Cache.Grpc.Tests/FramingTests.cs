using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>The length-prefixed message parser, fed through a real Pipe the way Kestrel feeds it.</summary>
public sealed class FramingTests
{
    private static byte[] Frame(IMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        GrpcFraming.WriteMessage(buffer, message, int.MaxValue);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static async Task<List<StringValue>> ReadAllAsync(Pipe pipe, int maxMessageSize = 1024 * 1024)
    {
        var reader = new GrpcMessageReader(pipe.Reader, maxMessageSize);
        var messages = new List<StringValue>();
        while (true)
        {
            (bool hasMessage, StringValue message) = await reader.ReadAsync(StringValue.Parser, CancellationToken.None);
            if (!hasMessage)
            {
                return messages;
            }

            messages.Add(message);
        }
    }

    private static async Task WriteAsync(Pipe pipe, byte[] bytes, int chunkSize)
    {
        for (int i = 0; i < bytes.Length; i += chunkSize)
        {
            await pipe.Writer.WriteAsync(bytes.AsMemory(i, Math.Min(chunkSize, bytes.Length - i)));
        }

        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public void Frame_has_zero_flag_and_big_endian_length()
    {
        byte[] frame = Frame(new StringValue { Value = "abc" });
        Assert.Equal(0, frame[0]);
        Assert.Equal(5u, BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(1)));
        Assert.Equal(10, frame.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task Messages_split_across_writes_are_reassembled(int chunkSize)
    {
        string big = new('x', 3000);
        byte[] bytes = Concat(Frame(new StringValue { Value = "one" }), Frame(new StringValue { Value = big }), Frame(new StringValue { Value = "three" }));
        var pipe = new Pipe();

        Task<List<StringValue>> reading = ReadAllAsync(pipe);
        await WriteAsync(pipe, bytes, chunkSize);
        List<StringValue> messages = await reading;

        Assert.Equal(["one", big, "three"], messages.Select(m => m.Value));
    }

    [Fact]
    public async Task Several_messages_in_one_buffer_are_read_one_by_one()
    {
        byte[] bytes = Concat(Enumerable.Range(0, 100).Select(i => Frame(new StringValue { Value = "m" + i })).ToArray());
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(bytes);
        await pipe.Writer.CompleteAsync();

        List<StringValue> messages = await ReadAllAsync(pipe);

        Assert.Equal(Enumerable.Range(0, 100).Select(i => "m" + i), messages.Select(m => m.Value));
    }

    [Fact]
    public async Task Zero_length_message_is_a_default_message()
    {
        byte[] bytes = Concat([0, 0, 0, 0, 0], Frame(new StringValue { Value = "after" }));
        var pipe = new Pipe();
        await WriteAsync(pipe, bytes, 1);

        List<StringValue> messages = await ReadAllAsync(pipe);

        Assert.Equal(["", "after"], messages.Select(m => m.Value));
    }

    [Fact]
    public async Task Empty_stream_has_no_messages()
    {
        var pipe = new Pipe();
        await pipe.Writer.CompleteAsync();
        Assert.Empty(await ReadAllAsync(pipe));
    }

    [Fact]
    public async Task Oversized_message_is_refused_from_its_prefix_alone()
    {
        var pipe = new Pipe();
        // Only the prefix announcing 2 MiB arrives; the reader must not wait for (or buffer) the body.
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0x20, 0, 0 });

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() => ReadAllAsync(pipe, maxMessageSize: 1024 * 1024));

        Assert.Equal(GrpcStatusCode.ResourceExhausted, ex.Status);
    }

    [Fact]
    public async Task Message_of_exactly_the_maximum_is_accepted()
    {
        byte[] frame = Frame(new StringValue { Value = new string('a', 100) });
        var pipe = new Pipe();
        await WriteAsync(pipe, frame, 13);

        List<StringValue> messages = await ReadAllAsync(pipe, maxMessageSize: frame.Length - GrpcFraming.HeaderSize);

        Assert.Single(messages);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public async Task Stream_ending_mid_message_is_internal(int keep)
    {
        byte[] frame = Frame(new StringValue { Value = "truncated" });
        var pipe = new Pipe();
        await WriteAsync(pipe, frame[..keep], 1);

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() => ReadAllAsync(pipe));

        Assert.Equal(GrpcStatusCode.Internal, ex.Status);
        Assert.Contains("Incomplete", ex.Message);
    }

    [Fact]
    public async Task Compressed_flag_without_encoding_is_internal()
    {
        byte[] frame = Frame(new StringValue { Value = "x" });
        frame[0] = 1;
        var pipe = new Pipe();
        await WriteAsync(pipe, frame, frame.Length);

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() => ReadAllAsync(pipe));

        Assert.Equal(GrpcStatusCode.Internal, ex.Status);
    }

    [Fact]
    public async Task Unparsable_message_is_internal()
    {
        // Field 1, wire type 2 (length-delimited), announcing 100 bytes that are not there.
        byte[] frame = [0, 0, 0, 0, 2, 0x0A, 100];
        var pipe = new Pipe();
        await WriteAsync(pipe, frame, frame.Length);

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() => ReadAllAsync(pipe));

        Assert.Equal(GrpcStatusCode.Internal, ex.Status);
    }

    [Fact]
    public void Writing_a_message_over_the_send_limit_is_resource_exhausted()
    {
        var buffer = new ArrayBufferWriter<byte>();
        GrpcException ex = Assert.Throws<GrpcException>(() =>
            GrpcFraming.WriteMessage(buffer, new BytesValue { Value = ByteString.CopyFrom(new byte[100]) }, 50));

        Assert.Equal(GrpcStatusCode.ResourceExhausted, ex.Status);
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public void TryReadMessage_leaves_an_incomplete_buffer_untouched()
    {
        byte[] frame = Frame(new StringValue { Value = "abcdef" });
        var buffer = new ReadOnlySequence<byte>(frame, 0, frame.Length - 1);

        Assert.False(GrpcFraming.TryReadMessage(ref buffer, 1024, out _));
        Assert.Equal(frame.Length - 1, buffer.Length);
    }
}
