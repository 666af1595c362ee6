namespace Flywheel.Cache.Bazel;

/// <summary>How a ByteStream blob travels: as is, or zstd-compressed (the <c>compressed-blobs/zstd/</c> forms).</summary>
public enum BlobCompressor
{
    Identity,
    Zstd,
}

/// <summary>A parsed ByteStream read name: <c>{instance}/blobs/{hash}/{size}</c> or <c>{instance}/compressed-blobs/{compressor}/{hash}/{size}</c>.</summary>
public readonly record struct ReadResource(string InstanceName, BazelDigest Digest, BlobCompressor Compressor);

/// <summary>A parsed ByteStream write name: <c>{instance}/uploads/{uuid}/blobs/{hash}/{size}</c> or its <c>compressed-blobs</c> form.</summary>
public readonly record struct WriteResource(string InstanceName, string UploadId, BazelDigest Digest, BlobCompressor Compressor);

/// <summary>
/// ByteStream resource names as REAPI v2 defines them for the CAS:
/// <list type="bullet">
/// <item>read: <c>{instance_name}/blobs/{hash}/{size}[/{optional_metadata}]</c> and
/// <c>{instance_name}/compressed-blobs/{compressor}/{uncompressed_hash}/{uncompressed_size}</c>;</item>
/// <item>write: <c>{instance_name}/uploads/{uuid}/blobs/{hash}/{size}[/{optional_metadata}]</c> and
/// <c>{instance_name}/uploads/{uuid}/compressed-blobs/{compressor}/{uncompressed_hash}/{uncompressed_size}[/{optional_metadata}]</c>.</item>
/// </list>
/// The instance name is empty (no leading slash) or one or more non-empty segments, none of which is a keyword
/// (<see cref="IsReservedSegment"/>). Only SHA-256 is spoken, so a digest-function segment is never accepted.
/// Optional metadata is accepted and ignored. Parsing never throws; it says what is wrong.
/// </summary>
public static class ResourceName
{
    private const string Blobs = "blobs";
    private const string CompressedBlobs = "compressed-blobs";
    private const string Uploads = "uploads";

    /// <summary>Longer names are refused outright (the longest sensible one is a few hundred characters).</summary>
    public const int MaxLength = 4096;

    /// <summary>Path segments that REAPI reserves and an instance name therefore cannot contain.</summary>
    public static bool IsReservedSegment(ReadOnlySpan<char> segment) =>
        segment is Blobs or Uploads or CompressedBlobs or "actions" or "actionResults" or "operations" or "capabilities";

    public static bool TryParseRead(string? resourceName, out ReadResource resource, out string error)
    {
        resource = default;
        if (!TrySplit(resourceName, out var segments, out error))
        {
            return false;
        }

        var keyword = FindKeyword(segments);
        if (keyword < 0 || segments[keyword] == Uploads)
        {
            error = Describe(resourceName!, "is not a blob to read: expected {instance}/blobs/{hash}/{size} or {instance}/compressed-blobs/zstd/{hash}/{size}");
            return false;
        }

        if (!TryInstance(resourceName!, segments, keyword, out var instance, out error) ||
            !TryBlob(resourceName!, segments, keyword, allowMetadata: segments[keyword] == Blobs, out var digest, out var compressor, out error))
        {
            return false;
        }

        resource = new ReadResource(instance, digest, compressor);
        return true;
    }

    public static bool TryParseWrite(string? resourceName, out WriteResource resource, out string error)
    {
        resource = default;
        if (!TrySplit(resourceName, out var segments, out error))
        {
            return false;
        }

        var keyword = FindKeyword(segments);
        if (keyword < 0 || segments[keyword] != Uploads)
        {
            error = Describe(resourceName!, "is not an upload: expected {instance}/uploads/{uuid}/blobs/{hash}/{size} or {instance}/uploads/{uuid}/compressed-blobs/zstd/{hash}/{size}");
            return false;
        }

        if (!TryInstance(resourceName!, segments, keyword, out var instance, out error))
        {
            return false;
        }

        if (keyword + 1 >= segments.Length || IsReservedSegment(segments[keyword + 1]))
        {
            error = Describe(resourceName!, "has no upload id after 'uploads/'");
            return false;
        }

        var uploadId = segments[keyword + 1];
        var blob = keyword + 2;
        if (blob >= segments.Length || segments[blob] is not (Blobs or CompressedBlobs))
        {
            error = Describe(resourceName!, "needs 'blobs/' or 'compressed-blobs/' after the upload id");
            return false;
        }

        if (!TryBlob(resourceName!, segments, blob, allowMetadata: true, out var digest, out var compressor, out error))
        {
            return false;
        }

        resource = new WriteResource(instance, uploadId, digest, compressor);
        return true;
    }

    public static string FormatRead(ReadResource resource) =>
        Prefix(resource.InstanceName) + BlobPart(resource.Digest, resource.Compressor);

    public static string FormatWrite(WriteResource resource)
    {
        if (resource.UploadId.Length == 0 || resource.UploadId.Contains('/') || IsReservedSegment(resource.UploadId))
        {
            throw new ArgumentException($"'{resource.UploadId}' cannot be an upload id", nameof(resource));
        }

        return Prefix(resource.InstanceName) + Uploads + "/" + resource.UploadId + "/" + BlobPart(resource.Digest, resource.Compressor);
    }

    /// <summary>Whether <paramref name="instanceName"/> can appear in a resource name (empty, or segments that are neither empty nor reserved).</summary>
    public static bool IsValidInstanceName(string instanceName)
    {
        if (instanceName.Length == 0)
        {
            return true;
        }

        foreach (var range in instanceName.AsSpan().Split('/'))
        {
            var segment = instanceName.AsSpan()[range];
            if (segment.IsEmpty || IsReservedSegment(segment))
            {
                return false;
            }
        }

        return true;
    }

    public static string CompressorName(BlobCompressor compressor) => compressor switch
    {
        BlobCompressor.Identity => "identity",
        BlobCompressor.Zstd => "zstd",
        _ => throw new ArgumentOutOfRangeException(nameof(compressor)),
    };

    private static string Prefix(string instanceName)
    {
        if (!IsValidInstanceName(instanceName))
        {
            throw new ArgumentException($"'{instanceName}' cannot be an instance name", nameof(instanceName));
        }

        return instanceName.Length == 0 ? "" : instanceName + "/";
    }

    private static string BlobPart(BazelDigest digest, BlobCompressor compressor) => compressor == BlobCompressor.Identity
        ? $"{Blobs}/{digest}"
        : $"{CompressedBlobs}/{CompressorName(compressor)}/{digest}";

    private static bool TrySplit(string? resourceName, out string[] segments, out string error)
    {
        segments = [];
        if (string.IsNullOrEmpty(resourceName))
        {
            error = "the resource name is empty";
            return false;
        }

        if (resourceName.Length > MaxLength)
        {
            error = $"the resource name is longer than {MaxLength} characters";
            return false;
        }

        segments = resourceName.Split('/');
        error = "";
        return true;
    }

    private static int FindKeyword(string[] segments)
    {
        for (var i = 0; i < segments.Length; i++)
        {
            if (segments[i] is Blobs or CompressedBlobs or Uploads)
            {
                return i;
            }
        }

        return -1;
    }

    private static bool TryInstance(string name, string[] segments, int end, out string instance, out string error)
    {
        instance = "";
        for (var i = 0; i < end; i++)
        {
            if (segments[i].Length == 0)
            {
                error = Describe(name, "has an empty path segment in its instance name");
                return false;
            }

            if (IsReservedSegment(segments[i]))
            {
                error = Describe(name, $"has the reserved word '{segments[i]}' in its instance name");
                return false;
            }
        }

        instance = end == 0 ? "" : string.Join('/', segments, 0, end);
        error = "";
        return true;
    }

    /// <summary>Parses <c>blobs/{hash}/{size}[/…]</c> or <c>compressed-blobs/{compressor}/{hash}/{size}[/…]</c> at <paramref name="at"/>.</summary>
    private static bool TryBlob(
        string name, string[] segments, int at, bool allowMetadata, out BazelDigest digest, out BlobCompressor compressor, out string error)
    {
        digest = default;
        compressor = BlobCompressor.Identity;
        var hash = at + 1;
        if (segments[at] == CompressedBlobs)
        {
            if (at + 1 >= segments.Length)
            {
                error = Describe(name, "names no compressor after 'compressed-blobs/'");
                return false;
            }

            switch (segments[at + 1])
            {
                case "identity":
                    compressor = BlobCompressor.Identity;
                    break;
                case "zstd":
                    compressor = BlobCompressor.Zstd;
                    break;
                default:
                    error = Describe(name, $"asks for unsupported compressor '{ClientText.Cut(segments[at + 1])}' (supported: identity, zstd)");
                    return false;
            }

            hash = at + 2;
        }

        if (hash + 1 >= segments.Length)
        {
            error = Describe(name, "ends before {hash}/{size}");
            return false;
        }

        if (!BazelDigest.TryParse(segments[hash], segments[hash + 1], out digest))
        {
            error = Describe(name, $"has no valid digest: '{ClientText.Cut(segments[hash])}/{ClientText.Cut(segments[hash + 1])}' is not a SHA-256 hash (64 lower-case hex digits) and a size (decimal digits); only SHA-256 is supported");
            return false;
        }

        if (!allowMetadata && hash + 2 < segments.Length)
        {
            error = Describe(name, "has extra segments after {hash}/{size}");
            return false;
        }

        error = "";
        return true;
    }

    private static string Describe(string name, string problem) =>
        $"resource name '{ClientText.Cut(name)}' {problem}";
}
