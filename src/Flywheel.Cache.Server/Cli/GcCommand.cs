using System.CommandLine;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Hosting;
using Flywheel.Cache.Server.Maintenance;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel gc [--dry-run]</c>: one garbage collection run on the configured backends (the same flags and keys
/// as <c>serve</c>), also while gateways serve; it waits for nobody and skips when another gateway is collecting.
/// </summary>
internal static class GcCommand
{
    public static Command Create()
    {
        var backends = ConfigFlags.Backends();
        var dryRun = new Option<bool>("--dry-run") { Description = "report what would be removed, remove nothing" };
        var command = new Command("gc", "Collect garbage once: incomplete writes and orphaned blobs older than Gc:OrphanGrace.");
        backends.AddTo(command);
        command.Add(dryRun);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new Dictionary<string, string?>();
            backends.Collect(parse, settings);
            try
            {
                await using var app = FlywheelHost.Build(settings);
                await app.Services.GetRequiredService<IMetadataStore>().MigrateAsync(cancellationToken);
                var report = await app.Services.GetRequiredService<GarbageCollector>().RunAsync(parse.GetValue(dryRun), cancellationToken);
                if (!report.Ran)
                {
                    Console.WriteLine("skipped: another gateway is collecting garbage right now");
                    return 0;
                }

                Console.WriteLine(report.ToString());
                return 0;
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel gc: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
