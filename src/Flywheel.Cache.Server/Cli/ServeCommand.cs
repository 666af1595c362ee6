using System.CommandLine;
using Flywheel.Cache.Server.Hosting;

namespace Flywheel.Cache.Server.Cli;

/// <summary><c>flywheel serve</c>: runs the daemon. Each flag is also a configuration key (see <see cref="ConfigKeys"/>).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        (Option<string> Option, string Key)[] flags =
        [
            (new Option<string>("--http") { Description = "HTTP listen address (Nix cache, Bazel HTTP, API, /metrics); default 127.0.0.1:8080" }, ConfigKeys.Http),
            (new Option<string>("--grpc") { Description = "gRPC (REAPI) listen address; default 127.0.0.1:9092" }, ConfigKeys.Grpc),
            (new Option<string>("--data") { Description = "data folder of the embedded default; default ./.flywheel" }, ConfigKeys.Data),
            (new Option<string>("--storage") { Description = "blob storage: disk (default) or s3" }, ConfigKeys.Storage),
            (new Option<string>("--index") { Description = "metadata index: sqlite (default) or postgres" }, ConfigKeys.Index),
            (new Option<string>("--public-url") { Description = "the URL clients reach this daemon at (printed at start)" }, ConfigKeys.PublicUrl),
            (new Option<string>("--s3-endpoint") { Description = "S3 endpoint URL (RustFS, MinIO); omit for AWS" }, ConfigKeys.S3Endpoint),
            (new Option<string>("--s3-bucket") { Description = "S3 bucket" }, ConfigKeys.S3Bucket),
            (new Option<string>("--s3-region") { Description = "S3 region; default us-east-1" }, ConfigKeys.S3Region),
            (new Option<string>("--s3-prefix") { Description = "key prefix inside the bucket" }, ConfigKeys.S3Prefix),
            (new Option<string>("--postgres") { Description = "PostgreSQL connection string (prefer FLYWHEEL_POSTGRES: flags show in process lists)" }, ConfigKeys.Postgres),
        ];
        var pathStyle = new Option<bool>("--s3-path-style") { Description = "path-style S3 addressing (RustFS and MinIO need it)" };
        var command = new Command("serve", "Run the daemon (embedded default: local disk + SQLite under --data; production: --storage s3 --index postgres).");
        foreach (var (option, _) in flags)
        {
            command.Add(option);
        }

        command.Add(pathStyle);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new Dictionary<string, string?>();
            foreach (var (option, key) in flags)
            {
                if (parse.GetValue(option) is { } value)
                {
                    settings[key] = value;
                }
            }

            if (parse.GetValue(pathStyle))
            {
                settings[ConfigKeys.S3PathStyle] = "true";
            }

            await using var app = FlywheelHost.Build(settings);
            await FlywheelHost.StartAsync(app, cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
