using System.IO.Pipelines;
using System.Security.Cryptography;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// An image layer made of store paths, as nix2container makes it: an uncompressed tar of <c>/</c>, <c>/nix</c>,
/// <c>/nix/store</c> and each store path's tree (paths in name order, every directory's entries in name order),
/// owner root (0), modification time 1, store modes (<see cref="TarStyle.NixLayer"/>). The same paths give the same
/// bytes, so a layer is written twice, streamed both times: once to learn its digest, once to push it.
/// </summary>
public sealed class StorePathLayer(Func<StorePath, CancellationToken, Task<Stream>> openNar)
{
    private static readonly DateTimeOffset Time = DateTimeOffset.FromUnixTimeSeconds(1);

    public async Task WriteAsync(IReadOnlyList<StorePath> paths, Stream output, CancellationToken ct)
    {
        var tar = new TarballWriter(output, Time, TarStyle.NixLayer);
        await tar.ParentAsync("/", ct).ConfigureAwait(false);
        await tar.ParentAsync("/nix", ct).ConfigureAwait(false);
        await tar.ParentAsync("/nix/store", ct).ConfigureAwait(false);
        foreach (var path in paths.DistinctBy(p => p.BaseName).OrderBy(p => p.BaseName, StringComparer.Ordinal))
        {
            await using var nar = await openNar(path, ct).ConfigureAwait(false);
            await tar.StorePathAsync(nar, "/nix/store/" + path.BaseName, ct).ConfigureAwait(false);
        }

        await tar.FinishAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The layer's <c>sha256:</c> digest and size, from writing it through a hash.</summary>
    public async Task<OciDescriptor> DescribeAsync(IReadOnlyList<StorePath> paths, CancellationToken ct)
    {
        await using var hashing = new HashingSink();
        await WriteAsync(paths, hashing, ct).ConfigureAwait(false);
        return new OciDescriptor(OciImage.OciLayerType, "sha256:" + Convert.ToHexStringLower(hashing.Hash.GetHashAndReset()), hashing.Length);
    }

    /// <summary>
    /// Streams the layer to <paramref name="consume"/> through a pipe (a bounded buffer between the writer and the
    /// reader); if the consumer fails, the writer is stopped.
    /// </summary>
    public async Task StreamAsync(IReadOnlyList<StorePath> paths, Func<Stream, CancellationToken, Task> consume, CancellationToken ct)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var writing = Task.Run(async () =>
        {
            try
            {
                await using var stream = pipe.Writer.AsStream(leaveOpen: true);
                await WriteAsync(paths, stream, stop.Token).ConfigureAwait(false);
                await pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        }, CancellationToken.None);
        try
        {
            await using var reader = pipe.Reader.AsStream();
            await consume(reader, ct).ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(writing).ConfigureAwait(false);
            throw;
        }

        await writing.ConfigureAwait(false);
    }

    /// <summary>A write-only stream that only hashes and counts.</summary>
    private sealed class HashingSink : Stream
    {
        public IncrementalHash Hash { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        private long _length;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Hash.AppendData(buffer);
            _length += buffer.Length;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
