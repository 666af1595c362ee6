using System.Net;
using System.Runtime.CompilerServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Flywheel.Cache.Storage.S3;

/// <summary>
/// Blobs as objects in an S3-compatible bucket: <c>&lt;prefix&gt;blobs/&lt;2 hex&gt;/&lt;64 hex&gt;</c>. Data in
/// flight never lives under <c>blobs/</c>: a blob appears there only through a PutObject or a completed multipart
/// upload issued after its hash was verified (see <see cref="S3BlobWriter"/>); temporary objects live under
/// <c>&lt;prefix&gt;uploads/</c>. The empty blob exists by definition and has no object.
/// Every failure to reach the service (network, timeout, 5xx, access denied) is a
/// <see cref="CacheException"/> with <see cref="CacheError.Unavailable"/> naming the operation and key.
/// </summary>
public sealed partial class S3BlobStore : IBlobStore, IDisposable
{
    /// <summary>HeadObject calls in flight at once in <see cref="FindMissingAsync"/>.</summary>
    internal const int FindMissingParallelism = 16;

    internal const string BlobsFolder = "blobs/";
    internal const string UploadsFolder = "uploads/";

    private readonly TimeProvider _time;
    private readonly bool _ownsClient;

    public S3BlobStore(S3BlobStoreOptions options, TimeProvider? time = null)
        : this(options, CreateClient(Validated(options)), ownsClient: true, time)
    {
    }

    /// <summary>A store over a client configured elsewhere (which the store does not dispose).</summary>
    public S3BlobStore(S3BlobStoreOptions options, IAmazonS3 client, TimeProvider? time = null)
        : this(Validated(options), client, ownsClient: false, time)
    {
    }

    private S3BlobStore(S3BlobStoreOptions options, IAmazonS3 client, bool ownsClient, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(client);
        Options = options;
        Client = client;
        _ownsClient = ownsClient;
        _time = time ?? TimeProvider.System;
        BlobsPrefix = options.KeyPrefix + BlobsFolder;
        UploadsPrefix = options.KeyPrefix + UploadsFolder;
        PartBuffers = new S3PartBufferPool((int)options.PartSizeBytes, options.MaxPartBuffers);
    }

    public S3BlobStoreOptions Options { get; }

    internal IAmazonS3 Client { get; }

    internal string Bucket => Options.Bucket;

    internal string BlobsPrefix { get; }

    internal string UploadsPrefix { get; }

    internal S3PartBufferPool PartBuffers { get; }

    /// <summary>
    /// The client as self-hosted servers (RustFS, MinIO) need it too: checksums only where an operation requires
    /// them (SDK 4 otherwise adds CRC trailers with aws-chunked bodies, which many servers reject), path-style
    /// addressing when asked, and bounded timeouts and retries so an unreachable service fails instead of hanging.
    /// </summary>
    public static AmazonS3Client CreateClient(S3BlobStoreOptions options)
    {
        options.Validate();
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            Timeout = options.RequestTimeout,
            MaxErrorRetry = options.MaxRetries,
            RetryMode = RequestRetryMode.Standard,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (options.ServiceUrl is { } url)
        {
            config.ServiceURL = url.ToString();
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        return options.AccessKey is { } accessKey
            ? new AmazonS3Client(new BasicAWSCredentials(accessKey, options.SecretKey), config)
            : new AmazonS3Client(config); // the SDK's default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, web identity
    }

    /// <summary>The key a blob is (or would be) stored under.</summary>
    public string GetKey(BlobDigest digest) =>
        string.Create(BlobsPrefix.Length + 3 + BlobDigest.HexLength, (BlobsPrefix, digest), static (span, state) =>
        {
            var (prefix, d) = state;
            prefix.CopyTo(span);
            span = span[prefix.Length..];
            var hex = span[3..];
            d.WriteHex(hex);
            span[0] = hex[0];
            span[1] = hex[1];
            span[2] = '/';
        });

    internal string NewTemporaryKey() => UploadsPrefix + Guid.NewGuid().ToString("N");

    public ValueTask<IBlobWriter> BeginWriteAsync(BlobDigest? expected, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IBlobWriter>(new S3BlobWriter(this, expected));
    }

    public async Task<BlobHandle?> OpenAsync(BlobDigest digest, CancellationToken cancellationToken)
    {
        if (digest == BlobDigest.Empty)
        {
            return new S3BlobHandle(this, digest, 0);
        }

        var length = await GetLengthAsync(GetKey(digest), cancellationToken).ConfigureAwait(false);
        return length is { } n ? new S3BlobHandle(this, digest, n) : null;
    }

    /// <summary>No HeadObject: the GetObject of the read is the only request, and a missing object fails it (NotFound).</summary>
    public Task<BlobHandle?> OpenKnownAsync(BlobDigest digest, long length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<BlobHandle?>(new S3BlobHandle(this, digest, length));
    }

    /// <summary>
    /// Bounded parallel HeadObject calls (<see cref="FindMissingParallelism"/> at a time). Listing the shard
    /// prefixes instead would cost a request per 1000 stored objects whatever was asked, so it pays off only when
    /// asking about a large part of a bucket; GC and repair ask about what the index holds, a batch at a time,
    /// where one HEAD per digest is both cheaper and exact.
    /// </summary>
    public async Task<IReadOnlyList<BlobDigest>> FindMissingAsync(IReadOnlyCollection<BlobDigest> digests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digests);
        var asked = new List<BlobDigest>(digests.Count);
        var seen = new HashSet<BlobDigest>();
        foreach (var digest in digests)
        {
            if (digest != BlobDigest.Empty && seen.Add(digest))
            {
                asked.Add(digest);
            }
        }

        if (asked.Count == 0)
        {
            return [];
        }

        var present = new bool[asked.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = FindMissingParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, asked.Count), parallel, async (i, ct) =>
            present[i] = await GetLengthAsync(GetKey(asked[i]), ct).ConfigureAwait(false) is not null).ConfigureAwait(false);

        var missing = new List<BlobDigest>();
        for (var i = 0; i < asked.Count; i++)
        {
            if (!present[i])
            {
                missing.Add(asked[i]);
            }
        }

        return missing;
    }

    /// <summary>HeadObject first, since S3's DeleteObject succeeds whether or not the object was there.</summary>
    public async Task<bool> DeleteAsync(BlobDigest digest, CancellationToken cancellationToken)
    {
        if (digest == BlobDigest.Empty)
        {
            return false;
        }

        var key = GetKey(digest);
        if (await GetLengthAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }

        await DeleteObjectAsync(key, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>ListObjectsV2 under <c>blobs/</c>, page by page; keys that are not exactly a blob's key are skipped.</summary>
    public async IAsyncEnumerable<StoredBlob> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var obj in ListObjectsAsync(BlobsPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (TryParseKey(obj.Key, out var digest))
            {
                yield return new StoredBlob(digest, obj.Size ?? 0, ToUtc(obj.LastModified));
            }
        }
    }

    /// <summary>HeadBucket: the bucket must exist and the credentials must reach it.</summary>
    public async Task CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Client.HeadBucketAsync(new HeadBucketRequest { BucketName = Bucket }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new CacheException(
                CacheError.Unavailable, $"S3 bucket '{Bucket}' does not exist at {Endpoint}; create it or fix the Bucket setting", e);
        }
        catch (Exception e) when (IsBackendFailure(e, cancellationToken))
        {
            throw Unavailable("HeadBucket", "", e);
        }
    }

    /// <summary>
    /// Aborts multipart uploads under this store's prefix that were started more than <paramref name="olderThan"/>
    /// ago and deletes temporary objects as old (both left by crashed processes); returns how many it removed.
    /// Run it with an age well above the longest upload (an hour or more) while other writers are active.
    /// </summary>
    public Task<int> SweepIncompleteWritesAsync(TimeSpan olderThan, CancellationToken cancellationToken) =>
        AbortStaleUploadsAsync(olderThan, cancellationToken);

    public async Task<int> AbortStaleUploadsAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        var cutoff = _time.GetUtcNow() - olderThan;
        var removed = 0;
        foreach (var prefix in (string[])[BlobsPrefix, UploadsPrefix])
        {
            var stale = new List<MultipartUpload>();
            await foreach (var upload in ListMultipartUploadsAsync(prefix, cancellationToken).ConfigureAwait(false))
            {
                if (ToUtc(upload.Initiated) < cutoff)
                {
                    stale.Add(upload);
                }
            }

            foreach (var upload in stale)
            {
                if (await AbortUploadAsync(upload.Key, upload.UploadId, cancellationToken).ConfigureAwait(false))
                {
                    removed++;
                }
            }
        }

        var staleObjects = new List<string>();
        await foreach (var obj in ListObjectsAsync(UploadsPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (ToUtc(obj.LastModified) < cutoff)
            {
                staleObjects.Add(obj.Key);
            }
        }

        foreach (var key in staleObjects)
        {
            await DeleteObjectAsync(key, cancellationToken).ConfigureAwait(false);
            removed++;
        }

        return removed;
    }

    public void Dispose()
    {
        if (_ownsClient)
        {
            Client.Dispose();
        }
    }

    internal bool TryParseKey(string key, out BlobDigest digest)
    {
        digest = default;
        var rest = key.AsSpan();
        if (!rest.StartsWith(BlobsPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        rest = rest[BlobsPrefix.Length..];
        return rest.Length == 3 + BlobDigest.HexLength &&
               rest[2] == '/' &&
               rest[..2].SequenceEqual(rest.Slice(3, 2)) &&
               !rest[3..].ContainsAnyInRange('A', 'F') &&
               BlobDigest.TryParseHex(rest[3..], out digest);
    }

    private static S3BlobStoreOptions Validated(S3BlobStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }

    private static DateTimeOffset ToUtc(DateTime? time) =>
        time is { } t ? new DateTimeOffset(t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime()) : DateTimeOffset.MinValue;
}
