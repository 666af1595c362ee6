using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Google.Bytestream;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Net.Compression;
using Microsoft.Extensions.Options;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// <c>google.bytestream.ByteStream</c> over the CAS: Read streams a blob in chunks (read_offset/read_limit; zstd
/// for <c>compressed-blobs/zstd/</c>), Write streams into a verified upload (resumable through QueryWriteStatus,
/// answered at once when the blob exists already).
/// </summary>
internal sealed class ByteStreamService : ByteStream.ByteStreamBase
{
    public const int ChunkSize = 1024 * 1024;

    /// <summary>
    /// Blob bytes are sent as they are, whatever the client accepts: gzip would cost more CPU than most blobs (already
    /// compressed outputs) save, and REAPI has its own compression for this (<c>compressed-blobs/zstd/</c>).
    /// </summary>
    internal static readonly WriteOptions Uncompressed = new(WriteFlags.NoCompress);

    /// <summary>What Grpc.AspNetCore accepts when its options name no providers (ours name none): gzip.</summary>
    private static readonly IList<ICompressionProvider> DefaultCompressionProviders = [new GzipCompressionProvider(System.IO.Compression.CompressionLevel.Fastest)];

    public override async Task Read(ReadRequest request, IServerStreamWriter<ReadResponse> writer, ServerCallContext call)
    {
        call.WriteOptions = Uncompressed;
        if (!ResourceName.TryParseRead(request.ResourceName, out var resource, out var error))
        {
            throw CacheException.Invalid(error); // names the resource, clipped
        }

        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, resource.InstanceName, TokenScopes.Pull);
        if (request.ReadOffset < 0 || request.ReadLimit < 0)
        {
            throw CacheException.Invalid("read_offset and read_limit must not be negative");
        }

        var blob = await services.GetRequiredService<BazelCache>().OpenAsync(instance, resource.Digest, call.CancellationToken)
            ?? throw CacheException.NotFound($"blob {resource.Digest} not found");
        if (resource.Compressor == BlobCompressor.Zstd)
        {
            await ReadCompressedAsync(request, blob, writer, call);
            return;
        }

        if (request.ReadOffset > blob.Length)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange, $"read_offset {request.ReadOffset} is beyond the blob's {blob.Length} bytes"));
        }

        var count = blob.Length - request.ReadOffset;
        if (request.ReadLimit > 0)
        {
            count = Math.Min(count, request.ReadLimit);
        }

        await using var stream = await blob.OpenReadAsync(request.ReadOffset, count, call.CancellationToken);
        // Started, not flushed (as Grpc.AspNetCore's own writer does): the headers leave with the first message's
        // data, and, for a blob of one message, with the data and the trailers in one write (see WriteFramesAsync).
        await http.Response.StartAsync(call.CancellationToken);
        await WriteFramesAsync(http.Response.BodyWriter, stream, count, call.CancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="stream"/> as ReadResponse messages of up to
    /// <see cref="ChunkSize"/> data bytes, framed here straight into the response body: per message the gRPC frame
    /// header (uncompressed, length) and the data field's tag and length, then the blob's bytes read from storage
    /// directly into the response pipe's memory. The bytes are copied once (storage into the response, as the HTTP
    /// CAS GET does), with no message object, no ByteString and no buffer of ours per chunk; the flush after each
    /// message but the last waits while the client's HTTP/2 window is full, so a slow reader holds at most about one
    /// chunk here. The last message is not flushed: the call's end sends it, so Kestrel writes its DATA and the
    /// trailers (grpc-status, added by Grpc.AspNetCore) together, and a blob of one message (most Bazel outputs) costs
    /// the connection one write (HEADERS, DATA, trailers) instead of three. On the wire it is what the generated
    /// writer sends.
    /// </summary>
    internal static async Task WriteFramesAsync(PipeWriter body, Stream stream, long count, CancellationToken cancellationToken)
    {
        var remaining = count;
        while (remaining > 0)
        {
            var chunk = (int)Math.Min(ChunkSize, remaining);
            WriteMessagePrefix(body, chunk);
            for (var left = chunk; left > 0;)
            {
                // Asked for the whole rest of the message at once: one storage read per message, into one segment
                // (larger than the transport's blocks, so the pipe rents it from the shared array pool).
                var memory = body.GetMemory(left);
                var read = await stream.ReadAsync(memory.Length > left ? memory[..left] : memory, cancellationToken);
                if (read == 0)
                {
                    // The message's length is sent already: the stream is broken off (reset), never completed short.
                    throw new IOException($"the blob ended {left} bytes short of the {count} bytes its store reported");
                }

                body.Advance(read);
                left -= read;
            }

            remaining -= chunk;
            if (remaining == 0)
            {
                return; // sent with the trailers
            }

            var flushed = await body.FlushAsync(cancellationToken);
            if (flushed.IsCompleted)
            {
                return; // the client is gone
            }
        }
    }

    /// <summary>ReadResponse.data: field 10, length-delimited.</summary>
    private const byte DataTag = (10 << 3) | 2;

    /// <summary>The gRPC frame header (not compressed, big-endian message length) and the data field's tag and length.</summary>
    private static void WriteMessagePrefix(PipeWriter body, int dataLength)
    {
        var varint = FindMissingBlobsCall.VarintSize((uint)dataLength);
        var span = body.GetSpan(5 + 1 + varint);
        span[0] = 0;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], 1 + varint + dataLength);
        span[5] = DataTag;
        body.Advance(6 + FindMissingBlobsCall.WriteVarint(span[6..], (uint)dataLength));
    }

    /// <summary>A zstd read: the blob compressed on the fly. Offsets count compressed bytes; only a read from 0 is served.</summary>
    private static async Task ReadCompressedAsync(ReadRequest request, Flywheel.Cache.Storage.BlobHandle blob, IServerStreamWriter<ReadResponse> writer, ServerCallContext call)
    {
        if (request.ReadOffset != 0 || request.ReadLimit != 0)
        {
            throw CacheException.Invalid("compressed-blobs reads are served whole: read_offset and read_limit must be 0");
        }

        using var compressor = new ZstdCompressor();
        var output = new ArrayBufferWriter<byte>(ChunkSize + 64 * 1024);
        await using var stream = await blob.OpenReadAsync(call.CancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, ChunkSize), call.CancellationToken)) > 0)
            {
                compressor.Compress(buffer.AsSpan(0, read), output);
                if (output.WrittenCount >= ChunkSize)
                {
                    await writer.WriteAsync(new ReadResponse { Data = UnsafeByteOperations.UnsafeWrap(output.WrittenMemory) }, call.CancellationToken);
                    output.ResetWrittenCount();
                }
            }

            compressor.Finish(output);
            if (output.WrittenCount > 0)
            {
                await writer.WriteAsync(new ReadResponse { Data = UnsafeByteOperations.UnsafeWrap(output.WrittenMemory) }, call.CancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// A verified upload. The messages are read from the request body at the wire level (<see cref="ByteStreamWriteRequests"/>;
    /// the generated <paramref name="requests"/> reader is not used), so each message's data goes from the request's
    /// buffers to the blob writer without a ByteString in between. The first message's resource name, token and
    /// offset are checked before any of its bytes reach storage.
    /// </summary>
    public override async Task<WriteResponse> Write(IAsyncStreamReader<WriteRequest> requests, ServerCallContext call)
    {
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var cache = services.GetRequiredService<BazelCache>();
        var uploads = services.GetRequiredService<ByteStreamUploads>();
        using var messages = new ByteStreamWriteRequests(
            http.Request.BodyReader,
            http.Request.Headers["grpc-encoding"].FirstOrDefault(),
            services.GetRequiredService<IOptions<GrpcServiceOptions>>().Value.CompressionProviders is { Count: > 0 } providers ? providers : DefaultCompressionProviders,
            ReapiGrpc.MaxMessageBytes);
        string? resourceName = null;
        CasUpload? upload = null;
        var finished = false;
        try
        {
            while (await messages.MoveNextAsync(call.CancellationToken))
            {
                if (upload is null)
                {
                    resourceName = messages.ResourceName;
                    if (!ResourceName.TryParseWrite(resourceName, out var resource, out var error))
                    {
                        throw CacheException.Invalid(error); // names the resource, clipped
                    }

                    var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, resource.InstanceName, TokenScopes.Push);
                    if (await cache.ExistsAsync(instance, resource.Digest, call.CancellationToken))
                    {
                        // Early return: the blob is there; the client stops sending.
                        if (uploads.Take(resourceName) is { } stale)
                        {
                            await stale.DisposeAsync();
                        }

                        return new WriteResponse { CommittedSize = resource.Compressor == BlobCompressor.Identity ? resource.Digest.SizeBytes : -1 };
                    }

                    upload = uploads.Take(resourceName);
                    if (upload is not null && messages.WriteOffset != upload.Committed)
                    {
                        await upload.DisposeAsync(); // the client restarts rather than resumes
                        upload = null;
                    }

                    if (upload is null)
                    {
                        if (messages.WriteOffset != 0)
                        {
                            throw CacheException.Invalid($"write_offset {messages.WriteOffset} for a new upload; nothing of {resourceName} is committed here (QueryWriteStatus says 0)");
                        }

                        upload = await cache.BeginUploadAsync(instance, resource.Digest, resource.Compressor, call.CancellationToken);
                    }
                }
                else if (messages.ResourceName.Length > 0 && messages.ResourceName != resourceName)
                {
                    throw CacheException.Invalid($"resource_name changed within one Write: '{ClientText.Cut(messages.ResourceName)}' after '{ClientText.Cut(resourceName)}'");
                }

                if (messages.WriteOffset != upload.Committed)
                {
                    throw CacheException.Invalid($"write_offset {messages.WriteOffset} does not continue the committed {upload.Committed} bytes");
                }

                foreach (var data in messages.Data)
                {
                    await upload.WriteAsync(data, call.CancellationToken);
                }

                if (messages.FinishWrite)
                {
                    await upload.CommitAsync(call.CancellationToken);
                    finished = true;
                    return new WriteResponse { CommittedSize = upload.Committed };
                }
            }

            throw CacheException.Invalid(resourceName is null
                ? "Write carried no request"
                : $"Write of {resourceName} ended without finish_write after {upload?.Committed ?? 0} bytes");
        }
        catch (Exception e) when (upload is not null && !finished && resourceName is not null && e is not CacheException)
        {
            // The stream broke (client gone, deadline): keep what arrived so the client can resume.
            await uploads.KeepAsync(resourceName, upload);
            upload = null;
            throw;
        }
        finally
        {
            if (upload is not null)
            {
                await upload.DisposeAsync();
            }
        }
    }

    public override async Task<QueryWriteStatusResponse> QueryWriteStatus(QueryWriteStatusRequest request, ServerCallContext call)
    {
        if (!ResourceName.TryParseWrite(request.ResourceName, out var resource, out var error))
        {
            throw CacheException.Invalid(error); // names the resource, clipped
        }

        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, resource.InstanceName, TokenScopes.Push);
        if (await services.GetRequiredService<BazelCache>().ExistsAsync(instance, resource.Digest, call.CancellationToken))
        {
            return new QueryWriteStatusResponse { CommittedSize = resource.Digest.SizeBytes, Complete = true };
        }

        return new QueryWriteStatusResponse { CommittedSize = services.GetRequiredService<ByteStreamUploads>().Committed(request.ResourceName) ?? 0 };
    }
}
