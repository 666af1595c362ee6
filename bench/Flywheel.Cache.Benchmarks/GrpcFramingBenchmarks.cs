using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Grpc;
using Flywheel.Cache.Grpc.Protocol;
using Google.Bytestream;
using Google.Protobuf;

namespace Flywheel.Cache.Benchmarks;

/// <summary>
/// Our gRPC layer's length-prefixed messages (Flywheel.Cache.Grpc.Protocol): writing a frame into a buffer writer,
/// taking one off a buffer and parsing it, and reading a stream of them through <see cref="GrpcMessageReader"/>, for
/// the two message shapes that dominate REAPI traffic: ByteStream chunks and FindMissingBlobs digest lists.
/// </summary>
[MemoryDiagnoser]
public class GrpcFramingBenchmarks
{
    private const int MaxMessageSize = GrpcServerOptions.DefaultMaxMessageSize;
    private const int ChunksPerStream = 16;

    private readonly ArrayBufferWriter<byte> _output = new(2 * 1024 * 1024);
    private WriteRequest _chunk = null!;
    private FindMissingBlobsRequest _findMissing = null!;
    private byte[] _chunkFrame = [];
    private byte[] _findMissingFrame = [];
    private byte[] _chunkStream = [];

    [GlobalSetup]
    public void Setup()
    {
        _chunk = new WriteRequest
        {
            ResourceName = "main/uploads/0b5c8b3e-5d2e-4f7a-9d3e-2a1b0c9d8e7f/blobs/" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "/67108864",
            WriteOffset = 1 << 20,
            Data = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(64 * 1024)),
        };
        _findMissing = new FindMissingBlobsRequest { InstanceName = "main" };
        for (var i = 0; i < 10_000; i++)
        {
            _findMissing.BlobDigests.Add(new Digest { Hash = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), SizeBytes = 1000 + i });
        }

        _chunkFrame = Frame(_chunk);
        _findMissingFrame = Frame(_findMissing);
        _chunkStream = [.. Enumerable.Range(0, ChunksPerStream).SelectMany(_ => _chunkFrame)];
    }

    /// <summary>A 64 KiB ByteStream WriteRequest framed into a reused buffer writer (the response/request writer path).</summary>
    [Benchmark]
    public int WriteChunkFrame()
    {
        _output.ResetWrittenCount();
        GrpcFraming.WriteMessage(_output, _chunk, MaxMessageSize);
        return _output.WrittenCount;
    }

    [Benchmark]
    public int WriteFindMissingFrame()
    {
        _output.ResetWrittenCount();
        GrpcFraming.WriteMessage(_output, _findMissing, MaxMessageSize);
        return _output.WrittenCount;
    }

    /// <summary>One 64 KiB chunk taken off a buffer and parsed (the parsed message owns a copy of its data).</summary>
    [Benchmark]
    public long ReadChunkFrame()
    {
        var buffer = new ReadOnlySequence<byte>(_chunkFrame);
        GrpcFraming.TryReadMessage(ref buffer, MaxMessageSize, out var payload);
        return WriteRequest.Parser.ParseFrom(payload).WriteOffset;
    }

    [Benchmark]
    public int ReadFindMissingFrame()
    {
        var buffer = new ReadOnlySequence<byte>(_findMissingFrame);
        GrpcFraming.TryReadMessage(ref buffer, MaxMessageSize, out var payload);
        return FindMissingBlobsRequest.Parser.ParseFrom(payload).BlobDigests.Count;
    }

    /// <summary>Sixteen 64 KiB chunks (1 MiB) read one by one from a pipe, as the server reads a ByteStream Write.</summary>
    [Benchmark]
    public async Task<long> ReadChunkStream()
    {
        var reader = new GrpcMessageReader(PipeReader.Create(new MemoryStream(_chunkStream, writable: false)), MaxMessageSize);
        long bytes = 0;
        while (true)
        {
            var (hasMessage, message) = await reader.ReadAsync(WriteRequest.Parser, CancellationToken.None);
            if (!hasMessage)
            {
                return bytes;
            }

            bytes += message.Data.Length;
        }
    }

    private static byte[] Frame(IMessage message)
    {
        var writer = new ArrayBufferWriter<byte>();
        GrpcFraming.WriteMessage(writer, message, MaxMessageSize);
        return writer.WrittenSpan.ToArray();
    }
}
