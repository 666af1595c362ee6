using System.CommandLine;
using Flywheel.Cache.Server.Hosting;

namespace Flywheel.Cache.Server.Cli;

/// <summary><c>flywheel serve</c>: runs the daemon. Each flag is also a configuration key (see <see cref="ConfigKeys"/>).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var listeners = ConfigFlags.Listeners();
        var backends = ConfigFlags.Backends();
        var command = new Command("serve", "Run the daemon (embedded default: local disk + SQLite under --data; production: --storage s3 --index postgres).");
        listeners.AddTo(command);
        backends.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new Dictionary<string, string?>();
            listeners.Collect(parse, settings);
            backends.Collect(parse, settings);
            await using var app = FlywheelHost.Build(settings);
            await FlywheelHost.StartAsync(app, cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
