namespace Flywheel.Cache.Server.Hosting;

/// <summary>The S3 part of the configuration (<c>S3:*</c> keys), validated with the rest at start.</summary>
public sealed record S3Settings(Uri? Endpoint, string Bucket, string Region, string Prefix, bool PathStyle, bool PresignDownloads)
{
    public static S3Settings? Load(IConfiguration configuration, List<string> errors)
    {
        Uri? endpoint = null;
        if (configuration[ConfigKeys.S3Endpoint] is { Length: > 0 } endpointText
            && (!Uri.TryCreate(endpointText, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https")))
        {
            errors.Add($"{ConfigKeys.S3Endpoint}: '{endpointText}' is not an http(s) URL");
        }

        var bucket = configuration[ConfigKeys.S3Bucket] ?? "";
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.'))
        {
            errors.Add($"{ConfigKeys.S3Bucket}: --storage s3 needs a bucket name (3-63 characters a-z, 0-9, '-', '.'), got '{bucket}'");
        }

        var prefix = configuration[ConfigKeys.S3Prefix] ?? "";
        if (prefix.Contains("..", StringComparison.Ordinal) || prefix.StartsWith('/') || prefix.Any(char.IsControl))
        {
            errors.Add($"{ConfigKeys.S3Prefix}: '{prefix}' must be a relative key prefix without '..'");
        }

        return new S3Settings(
            endpoint,
            bucket,
            configuration[ConfigKeys.S3Region] is { Length: > 0 } region ? region : "us-east-1",
            prefix,
            Flag(configuration, ConfigKeys.S3PathStyle, errors),
            Flag(configuration, ConfigKeys.S3PresignDownloads, errors));
    }

    private static bool Flag(IConfiguration configuration, string key, List<string> errors)
    {
        var text = configuration[key];
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        errors.Add($"{key}: '{text}' is not true or false");
        return false;
    }
}
