using System.CommandLine;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// Command-line flags that set configuration keys (see <see cref="ConfigKeys"/>): the listener flags of
/// <c>serve</c> and the backend flags that <c>serve</c> and <c>gc</c> share.
/// </summary>
internal sealed class ConfigFlags
{
    private readonly (Option<string> Option, string Key)[] _values;
    private readonly Option<bool>? _pathStyle;

    private ConfigFlags((Option<string>, string)[] values, Option<bool>? pathStyle)
    {
        _values = values;
        _pathStyle = pathStyle;
    }

    public static ConfigFlags Listeners() => new(
    [
        (new Option<string>("--http") { Description = "HTTP listen address (Nix cache, Bazel HTTP, API, /metrics); default 127.0.0.1:8080" }, ConfigKeys.Http),
        (new Option<string>("--grpc") { Description = "gRPC (REAPI) listen address; default 127.0.0.1:9092" }, ConfigKeys.Grpc),
        (new Option<string>("--public-url") { Description = "the URL clients reach this daemon at (printed at start)" }, ConfigKeys.PublicUrl),
    ], null);

    public static ConfigFlags Backends() => new(
    [
        (new Option<string>("--data") { Description = "data folder of the embedded default; default ./.flywheel" }, ConfigKeys.Data),
        (new Option<string>("--storage") { Description = "blob storage: disk (default) or s3" }, ConfigKeys.Storage),
        (new Option<string>("--index") { Description = "metadata index: sqlite (default) or postgres" }, ConfigKeys.Index),
        (new Option<string>("--s3-endpoint") { Description = "S3 endpoint URL (RustFS, MinIO); omit for AWS" }, ConfigKeys.S3Endpoint),
        (new Option<string>("--s3-bucket") { Description = "S3 bucket" }, ConfigKeys.S3Bucket),
        (new Option<string>("--s3-region") { Description = "S3 region; default us-east-1" }, ConfigKeys.S3Region),
        (new Option<string>("--s3-prefix") { Description = "key prefix inside the bucket" }, ConfigKeys.S3Prefix),
        (new Option<string>("--postgres") { Description = "PostgreSQL connection string (prefer FLYWHEEL_POSTGRES: flags show in process lists)" }, ConfigKeys.Postgres),
    ], new Option<bool>("--s3-path-style") { Description = "path-style S3 addressing (RustFS and MinIO need it)" });

    public void AddTo(Command command)
    {
        foreach (var (option, _) in _values)
        {
            command.Add(option);
        }

        if (_pathStyle is not null)
        {
            command.Add(_pathStyle);
        }
    }

    /// <summary>The configuration keys the given flags set (flags win over appsettings and environment).</summary>
    public void Collect(ParseResult parse, Dictionary<string, string?> settings)
    {
        foreach (var (option, key) in _values)
        {
            if (parse.GetValue(option) is { } value)
            {
                settings[key] = value;
            }
        }

        if (_pathStyle is not null && parse.GetValue(_pathStyle))
        {
            settings[ConfigKeys.S3PathStyle] = "true";
        }
    }
}
