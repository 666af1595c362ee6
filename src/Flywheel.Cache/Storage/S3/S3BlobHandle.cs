using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Flywheel.Cache.Storage.Disk;

namespace Flywheel.Cache.Storage.S3;

/// <summary>A blob object in S3: reads are ranged GetObjects streamed from the response; downloads may be presigned.</summary>
internal sealed class S3BlobHandle : BlobHandle
{
    private readonly S3BlobStore _store;

    public S3BlobHandle(S3BlobStore store, BlobDigest digest, long length)
        : base(digest, length)
    {
        _store = store;
    }

    public override async Task<Stream> OpenReadAsync(long offset, long count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, Length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Length - offset);
        cancellationToken.ThrowIfCancellationRequested();
        if (count == 0)
        {
            return Stream.Null;
        }

        var key = _store.GetKey(Digest);
        var request = new GetObjectRequest { BucketName = _store.Bucket, Key = key, ByteRange = new ByteRange(offset, offset + count - 1) };
        var response = await _store.CallAsync("GetObject", key, async ct =>
        {
            try
            {
                return await _store.Client.GetObjectAsync(request, ct).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                throw new CacheException(CacheError.NotFound, $"blob {Digest} was deleted", e);
            }
        }, cancellationToken).ConfigureAwait(false);

        // The response body as it arrives, bounded to the range (a server ignoring Range cannot overrun it);
        // disposing it releases the connection.
        return new BoundedReadStream(response.ResponseStream, count);
    }

    public override async ValueTask<Uri?> GetDownloadUriAsync(CancellationToken cancellationToken)
    {
        if (!_store.Options.PresignDownloads || Length == 0)
        {
            return null;
        }

        var key = _store.GetKey(Digest);
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _store.Bucket,
            Key = key,
            Verb = HttpVerb.GET,
            // The SDK signs with the real clock, so the expiry is taken from it too.
            Expires = DateTime.UtcNow + _store.Options.PresignLifetime,
            Protocol = _store.Options.ServiceUrl?.Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS,
        };
        var url = await _store.CallAsync("presign GetObject", key, _ => _store.Client.GetPreSignedURLAsync(request), cancellationToken).ConfigureAwait(false);
        return new Uri(url);
    }
}
