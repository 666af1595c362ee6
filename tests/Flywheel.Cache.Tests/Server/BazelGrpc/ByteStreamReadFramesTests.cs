using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Flywheel.Cache.Server.BazelGrpc;
using Google.Bytestream;
using Grpc.Core;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>
/// ByteStream Read's own framing (<see cref="ByteStreamService.WriteFramesAsync"/>): storage bytes read straight into
/// the response, framed as the generated ReadResponse would be; and, against a real daemon, reads broken off by the
/// client leave nothing behind that spoils the next read.
/// </summary>
public sealed class ByteStreamReadFramesTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public ByteStreamReadFramesTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(ByteStreamService.ChunkSize)]
    [InlineData((2 * ByteStreamService.ChunkSize) + (ByteStreamService.ChunkSize / 2) + 7)]
    public async Task Frames_are_read_responses_of_chunk_size_that_carry_the_bytes_in_order(int length)
    {
        var data = ReapiServiceTests.RandomBytes(length);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));

        // The store hands out odd-sized pieces: a message's bytes come from several reads.
        await ByteStreamService.WriteFramesAsync(pipe.Writer, new TrickleStream(data, 10_007), length, CancellationToken.None);
        await pipe.Writer.CompleteAsync();

        var chunks = ParseFrames(await ReadAllAsync(pipe.Reader));
        var expected = Enumerable.Range(0, (length + ByteStreamService.ChunkSize - 1) / ByteStreamService.ChunkSize)
            .Select(i => Math.Min(ByteStreamService.ChunkSize, length - (i * ByteStreamService.ChunkSize)))
            .ToArray();
        Assert.Equal(expected, chunks.Select(c => c.Length).ToArray());
        Assert.Equal(data, chunks.SelectMany(c => c).ToArray());
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(ByteStreamService.ChunkSize, 0)]
    [InlineData(ByteStreamService.ChunkSize + 1, 1)]
    [InlineData((3 * ByteStreamService.ChunkSize) + 5, 3)]
    public async Task Every_message_but_the_last_is_flushed_so_the_last_leaves_with_the_trailers(int length, int flushes)
    {
        var data = ReapiServiceTests.RandomBytes(length);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new CountingPipeWriter(pipe.Writer);

        await ByteStreamService.WriteFramesAsync(writer, new MemoryStream(data), length, CancellationToken.None);

        // Each flush is a pass of Kestrel's HTTP/2 frame writer and a socket write; the unflushed last message is
        // written by the call's end together with grpc-status (one write for a blob of one message).
        Assert.Equal(flushes, writer.Flushes);
        await pipe.Writer.CompleteAsync();
        Assert.Equal(data, ParseFrames(await ReadAllAsync(pipe.Reader)).SelectMany(c => c).ToArray());
    }

    [Fact]
    public async Task A_store_that_ends_short_fails_the_read_instead_of_sending_fewer_bytes()
    {
        var data = ReapiServiceTests.RandomBytes(ByteStreamService.ChunkSize + 100);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));

        var error = await Assert.ThrowsAsync<IOException>(() => ByteStreamService.WriteFramesAsync(
            pipe.Writer, new MemoryStream(data), data.Length + 50, CancellationToken.None));

        Assert.Contains("50 bytes short", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reads_cancelled_mid_blob_leave_the_server_serving_the_whole_blob()
    {
        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        var data = ReapiServiceTests.RandomBytes((6 * ByteStreamService.ChunkSize) + 321);
        var digest = ReapiClient.DigestOf(data);
        await client.WriteAsync($"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", data);
        var resource = $"blobs/{digest.Hash}/{digest.SizeBytes}";

        for (var i = 0; i < 8; i++)
        {
            using var cancel = new CancellationTokenSource();
            using var call = client.ByteStream.Read(new ReadRequest { ResourceName = resource }, client.Options().WithCancellationToken(cancel.Token));
            Assert.True(await call.ResponseStream.MoveNext(cancel.Token));
            Assert.Equal(data.AsSpan(0, call.ResponseStream.Current.Data.Length).ToArray(), call.ResponseStream.Current.Data.ToByteArray());
            await cancel.CancelAsync();
        }

        Assert.Equal(data, await client.ReadAsync(resource));
        Assert.Equal(data[(ByteStreamService.ChunkSize - 3)..((3 * ByteStreamService.ChunkSize) + 5)], await client.ReadAsync(resource, offset: ByteStreamService.ChunkSize - 3, limit: (2 * ByteStreamService.ChunkSize) + 8));
    }

    private static async Task<byte[]> ReadAllAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            if (result.IsCompleted)
            {
                var bytes = result.Buffer.ToArray();
                reader.AdvanceTo(result.Buffer.End);
                return bytes;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>gRPC frames (none compressed) parsed as generated ReadResponse messages; their data, in order.</summary>
    private static List<byte[]> ParseFrames(byte[] body)
    {
        var chunks = new List<byte[]>();
        for (var position = 0; position < body.Length;)
        {
            Assert.Equal(0, body[position]);
            var length = BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(position + 1, 4));
            chunks.Add(ReadResponse.Parser.ParseFrom(body.AsSpan(position + 5, length)).Data.ToByteArray());
            position += 5 + length;
        }

        return chunks;
    }

    /// <summary>A response body that counts its flushes.</summary>
    private sealed class CountingPipeWriter(PipeWriter inner) : PipeWriter
    {
        public int Flushes { get; private set; }

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Flushes++;
            return inner.FlushAsync(cancellationToken);
        }
    }

    /// <summary>A store stream that returns at most <paramref name="piece"/> bytes per read.</summary>
    private sealed class TrickleStream(byte[] data, int piece) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer.Length > piece ? buffer[..piece] : buffer, cancellationToken);
    }
}
