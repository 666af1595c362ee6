using System.Text;

namespace Flywheel.Cache.Storage.S3;

/// <summary>
/// Where and how <see cref="S3BlobStore"/> keeps blobs: any S3-compatible service (AWS, RustFS, MinIO).
/// <see cref="ToString"/> never prints the secret key.
/// </summary>
public sealed record S3BlobStoreOptions
{
    /// <summary>S3's minimum size of every multipart upload part but the last.</summary>
    public const long MinPartSizeBytes = 5L << 20;

    /// <summary>S3's maximum size of one part.</summary>
    public const long MaxPartSizeBytes = 5L << 30;

    public const long DefaultPartSizeBytes = 16L << 20;

    public const int DefaultMaxPartBuffers = 4;

    /// <summary>The endpoint, e.g. <c>https://s3.eu-central-1.amazonaws.com</c> or <c>http://rustfs:9000</c>. Null: AWS, by <see cref="Region"/>.</summary>
    public Uri? ServiceUrl { get; init; }

    /// <summary>The signing region (<c>us-east-1</c> suits most self-hosted servers).</summary>
    public string Region { get; init; } = "us-east-1";

    public string Bucket { get; init; } = "";

    /// <summary>
    /// Optional key prefix, so several stores share one bucket: path segments of letters, digits and
    /// <c>-_.</c>, separated by <c>/</c>; a trailing <c>/</c> is added when missing. Empty: the bucket's root.
    /// </summary>
    public string Prefix { get; init; } = "";

    /// <summary>Path-style addressing (<c>http://host/bucket/key</c>), which self-hosted servers usually need.</summary>
    public bool ForcePathStyle { get; init; }

    /// <summary>Static credentials; when both are null the SDK's standard chain is used (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY first).</summary>
    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }

    /// <summary>Bytes buffered (in memory, pooled) per write before they go out as one multipart part; 5 MiB to 5 GiB.</summary>
    public long PartSizeBytes { get; init; } = DefaultPartSizeBytes;

    /// <summary>
    /// How many part buffers the store's writes hold at once (1 to 64): part buffering never takes more than this
    /// times <see cref="PartSizeBytes"/> of memory (64 MiB at the defaults); a write above 1 MiB waits while all are taken.
    /// </summary>
    public int MaxPartBuffers { get; init; } = DefaultMaxPartBuffers;

    /// <summary>Whether <see cref="BlobHandle.GetDownloadUriAsync"/> hands out presigned GET URLs, so clients fetch from S3 directly.</summary>
    public bool PresignDownloads { get; init; }

    /// <summary>How long a presigned URL stays valid (1 second to 7 days, S3's limit).</summary>
    public TimeSpan PresignLifetime { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>The SDK's timeout per HTTP request (a part upload included).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How often the SDK retries a failed request (throttling, 5xx, network) before we report the store unavailable.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>The key prefix as used: empty or ending in <c>/</c>.</summary>
    public string KeyPrefix => Prefix.Length == 0 || Prefix.EndsWith('/') ? Prefix : Prefix + "/";

    /// <summary>Throws <see cref="ArgumentException"/> naming every bad value.</summary>
    public void Validate()
    {
        var errors = new List<string>();
        if (ServiceUrl is { } url && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"S3 ServiceUrl '{url}' must be an absolute http:// or https:// URL");
        }

        if (string.IsNullOrWhiteSpace(Region))
        {
            errors.Add("S3 Region must be set (us-east-1 suits most self-hosted servers)");
        }

        if (!IsValidBucketName(Bucket))
        {
            errors.Add($"S3 Bucket '{Bucket}' is not a bucket name (3-63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)");
        }

        if (!IsValidPrefix(Prefix))
        {
            errors.Add($"S3 Prefix '{Prefix}' must be empty or '/'-separated segments of letters, digits, '-', '_' and '.' (not '.' or '..'), without a leading '/', at most 512 characters");
        }

        if ((AccessKey is null) != (SecretKey is null) || AccessKey?.Length == 0 || SecretKey?.Length == 0)
        {
            errors.Add("S3 AccessKey and SecretKey must be given together (or neither, to use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
        }

        if (PartSizeBytes is < MinPartSizeBytes or > MaxPartSizeBytes || PartSizeBytes > Array.MaxLength)
        {
            errors.Add($"S3 PartSizeBytes {PartSizeBytes} must be between {MinPartSizeBytes} (5 MiB) and {Math.Min(MaxPartSizeBytes, Array.MaxLength)}");
        }

        if (MaxPartBuffers is < 1 or > 64)
        {
            errors.Add($"S3 MaxPartBuffers {MaxPartBuffers} must be between 1 and 64");
        }

        if (PresignLifetime < TimeSpan.FromSeconds(1) || PresignLifetime > TimeSpan.FromDays(7))
        {
            errors.Add($"S3 PresignLifetime {PresignLifetime} must be between 1 second and 7 days");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add($"S3 RequestTimeout {RequestTimeout} must be positive");
        }

        if (MaxRetries is < 0 or > 20)
        {
            errors.Add($"S3 MaxRetries {MaxRetries} must be between 0 and 20");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors));
        }
    }

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append($"ServiceUrl = {ServiceUrl}, Region = {Region}, Bucket = {Bucket}, Prefix = {Prefix}, ForcePathStyle = {ForcePathStyle}, ");
        builder.Append($"AccessKey = {AccessKey}, SecretKey = {(SecretKey is null ? "" : "***")}, PartSizeBytes = {PartSizeBytes}, MaxPartBuffers = {MaxPartBuffers}, ");
        builder.Append($"PresignDownloads = {PresignDownloads}, PresignLifetime = {PresignLifetime}, RequestTimeout = {RequestTimeout}, MaxRetries = {MaxRetries}");
        return true;
    }

    private static bool IsValidBucketName(string name) =>
        name.Length is >= 3 and <= 63 &&
        name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.') &&
        char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]) &&
        !name.Contains("..", StringComparison.Ordinal);

    private static bool IsValidPrefix(string prefix)
    {
        if (prefix.Length == 0)
        {
            return true;
        }

        if (prefix.Length > 512 || prefix[0] == '/')
        {
            return false;
        }

        var segments = prefix.EndsWith('/') ? prefix[..^1].Split('/') : prefix.Split('/');
        return segments.All(s =>
            s.Length > 0 && s != "." && s != ".." &&
            s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'));
    }
}
