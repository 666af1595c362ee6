using System.CommandLine;
using System.Globalization;
using Flywheel.Cache.Index;
using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Server.Hosting;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel gc [--dry-run] [--grace D]</c>: one garbage collection run on the configured backends (the same flags and keys
/// as <c>serve</c>), also while gateways serve; it waits for nobody and skips when another gateway is collecting.
/// </summary>
internal static class GcCommand
{
    public static Command Create()
    {
        var backends = ConfigFlags.Backends();
        var dryRun = new Option<bool>("--dry-run") { Description = "report what would be removed, remove nothing" };
        var grace = new Option<string>("--grace")
        {
            Description = "how old unreferenced or orphaned data must be before it goes, e.g. 30m; default Gc:OrphanGrace (6h). Shorter than an upload in flight takes can break that upload.",
        };
        var command = new Command(
            "gc", "Collect garbage once: evict caches over quota, expire Nix paths past retention, remove incomplete writes, unreferenced and orphaned blobs.");
        backends.AddTo(command);
        command.Add(dryRun);
        command.Add(grace);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new Dictionary<string, string?>();
            backends.Collect(parse, settings);
            try
            {
                if (parse.GetValue(grace) is { } text)
                {
                    settings[ConfigKeys.GcOrphanGrace] = Durations.Parse(text).ToString("c", CultureInfo.InvariantCulture);
                }

                await using var app = FlywheelHost.Build(settings);
                await app.Services.GetRequiredService<IMetadataIndex>().MigrateAsync(cancellationToken);
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
