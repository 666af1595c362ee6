using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Flywheel.Cache.Storage.S3;

/// <summary>The S3 calls the store and its writers make, each mapping failures to the core's error vocabulary.</summary>
public sealed partial class S3BlobStore
{
    internal string Endpoint => Options.ServiceUrl?.ToString() ?? $"AWS {Options.Region}";

    /// <summary>Runs one S3 call; a failure to reach the service becomes <see cref="CacheError.Unavailable"/>.</summary>
    internal async Task<T> CallAsync<T>(string operation, string key, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsBackendFailure(e, cancellationToken))
        {
            throw Unavailable(operation, key, e);
        }
    }

    /// <summary>HeadObject: the object's length, or null when there is no such object.</summary>
    internal Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken) =>
        CallAsync<long?>("HeadObject", key, async ct =>
        {
            try
            {
                var head = await Client.GetObjectMetadataAsync(
                    new GetObjectMetadataRequest { BucketName = Bucket, Key = key }, ct).ConfigureAwait(false);
                return head.ContentLength;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        }, cancellationToken);

    internal Task DeleteObjectAsync(string key, CancellationToken cancellationToken) =>
        CallAsync("DeleteObject", key, ct => Client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = Bucket, Key = key }, ct), cancellationToken);

    /// <summary>AbortMultipartUpload; false when the upload was gone already (completed or aborted elsewhere).</summary>
    internal Task<bool> AbortUploadAsync(string key, string uploadId, CancellationToken cancellationToken) =>
        CallAsync("AbortMultipartUpload", key, async ct =>
        {
            try
            {
                await Client.AbortMultipartUploadAsync(
                    new AbortMultipartUploadRequest { BucketName = Bucket, Key = key, UploadId = uploadId }, ct).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }
        }, cancellationToken);

    internal async IAsyncEnumerable<S3Object> ListObjectsAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? continuation = null;
        do
        {
            var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix, ContinuationToken = continuation };
            var page = await CallAsync("ListObjectsV2", prefix, ct => Client.ListObjectsV2Async(request, ct), cancellationToken).ConfigureAwait(false);
            foreach (var obj in page.S3Objects ?? [])
            {
                yield return obj;
            }

            continuation = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (continuation is not null);
    }

    internal async IAsyncEnumerable<MultipartUpload> ListMultipartUploadsAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? keyMarker = null, uploadIdMarker = null;
        while (true)
        {
            var request = new ListMultipartUploadsRequest { BucketName = Bucket, Prefix = prefix, KeyMarker = keyMarker, UploadIdMarker = uploadIdMarker };
            var page = await CallAsync("ListMultipartUploads", prefix, ct => Client.ListMultipartUploadsAsync(request, ct), cancellationToken).ConfigureAwait(false);
            foreach (var upload in page.MultipartUploads ?? [])
            {
                yield return upload;
            }

            if (page.IsTruncated != true)
            {
                yield break;
            }

            (keyMarker, uploadIdMarker) = (page.NextKeyMarker, page.NextUploadIdMarker);
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> means the service could not do what was asked: the SDK's own errors (after its
    /// retries), network errors, and timeouts; not the caller's cancellation, and not our own errors.
    /// </summary>
    internal static bool IsBackendFailure(Exception e, CancellationToken cancellationToken) => e switch
    {
        CacheException => false,
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,
        AmazonServiceException or AmazonClientException or HttpRequestException or IOException or SocketException
            or TimeoutException or OperationCanceledException => true,
        _ => false,
    };

    internal CacheException Unavailable(string operation, string key, Exception e)
    {
        var what = key.Length == 0 ? Bucket : $"{Bucket}/{key}";
        var why = e switch
        {
            AmazonServiceException s => $"{(int)s.StatusCode} {s.ErrorCode}: {s.Message}",
            OperationCanceledException => $"no answer within {Options.RequestTimeout.TotalSeconds:0.#} s",
            _ => e.Message,
        };
        return new CacheException(CacheError.Unavailable, $"S3 {operation} {what} at {Endpoint} failed: {why}", e);
    }
}
