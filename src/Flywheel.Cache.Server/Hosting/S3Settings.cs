using Flywheel.Cache.Storage.S3;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>Reads the <c>S3:*</c> keys into the S3 store's options; the store's own validation names what is wrong.</summary>
public static class S3Settings
{
    public static S3BlobStoreOptions Load(IConfiguration configuration, List<string> errors)
    {
        Uri? endpoint = null;
        if (configuration[ConfigKeys.S3Endpoint] is { Length: > 0 } endpointText
            && (!Uri.TryCreate(endpointText, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https")))
        {
            errors.Add($"{ConfigKeys.S3Endpoint}: '{endpointText}' is not an http(s) URL");
            endpoint = null; // keep validating the other keys
        }

        var options = new S3BlobStoreOptions
        {
            ServiceUrl = endpoint,
            Region = configuration[ConfigKeys.S3Region] is { Length: > 0 } region ? region : "us-east-1",
            Bucket = configuration[ConfigKeys.S3Bucket] ?? "",
            Prefix = configuration[ConfigKeys.S3Prefix] ?? "",
            ForcePathStyle = Flag(configuration, ConfigKeys.S3PathStyle, errors),
            PresignDownloads = Flag(configuration, ConfigKeys.S3PresignDownloads, errors),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            errors.Add($"S3 ({ConfigKeys.S3Bucket}, {ConfigKeys.S3Prefix}, …): {e.Message}");
        }

        return options;
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
