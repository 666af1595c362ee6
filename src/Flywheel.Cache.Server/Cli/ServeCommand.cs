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
            (new Option<string>("--storage") { Description = "blob storage: disk" }, ConfigKeys.Storage),
            (new Option<string>("--index") { Description = "metadata index: sqlite" }, ConfigKeys.Index),
            (new Option<string>("--public-url") { Description = "the URL clients reach this daemon at (printed at start)" }, ConfigKeys.PublicUrl),
        ];
        var command = new Command("serve", "Run the daemon (embedded default: local disk + SQLite under --data).");
        foreach (var (option, _) in flags)
        {
            command.Add(option);
        }

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

            await using var app = FlywheelHost.Build(settings);
            await FlywheelHost.StartAsync(app, cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
