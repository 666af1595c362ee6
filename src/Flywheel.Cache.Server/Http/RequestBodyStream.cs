using System.Runtime.CompilerServices;

namespace Flywheel.Cache.Server.Http;

/// <summary>
/// The request body as handlers read it, installed by <see cref="ErrorHandling"/>: a failure to read the body that is not
/// the client going away is the client's malformed request, reported as a <see cref="BadHttpRequestException"/> (400).
/// Kestrel raises most framing errors that way itself, but not all: a chunk size beyond any length
/// (<c>ffffffffffffffff</c>) surfaces as a plain <see cref="IOException"/> ("Bad chunk size data"), which used to
/// become a 500 with a stack trace.
/// </summary>
internal sealed class RequestBodyStream(Stream inner, CancellationToken requestAborted) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ValueTask<int> read;
        try
        {
            read = inner.ReadAsync(buffer, cancellationToken);
        }
        catch (IOException e) when (!requestAborted.IsCancellationRequested && e is not BadHttpRequestException)
        {
            throw Malformed(e);
        }

        return read.IsCompletedSuccessfully ? read : AwaitAsync(read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return inner.Read(buffer);
        }
        catch (IOException e) when (!requestAborted.IsCancellationRequested && e is not BadHttpRequestException)
        {
            throw Malformed(e);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // a waiting read (most reads of a streamed upload) allocates nothing
    private async ValueTask<int> AwaitAsync(ValueTask<int> read)
    {
        try
        {
            return await read.ConfigureAwait(false);
        }
        catch (IOException e) when (!requestAborted.IsCancellationRequested && e is not BadHttpRequestException)
        {
            throw Malformed(e);
        }
    }

    private static BadHttpRequestException Malformed(IOException e) =>
        new($"malformed request body: {e.Message}", StatusCodes.Status400BadRequest, e);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
