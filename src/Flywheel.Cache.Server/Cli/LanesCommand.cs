using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel lanes report --server URL --token T [--json]</c>: the lanes and, per installable, bootstrap, cold and warm
/// build seconds and each lane's runtime and peak memory, from the daemon's build history.
/// </summary>
internal static class LanesCommand
{
    public static Command Create()
    {
        var daemon = new DaemonFlags("a token");
        var json = new Option<bool>("--json") { Description = "print the report as JSON" };
        var report = new Command("report", "Measured figures per installable: bootstrap, cold and warm builds, heavy versus baseline lanes.") { json };
        daemon.AddTo(report);
        report.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var client = daemon.Client(parse);
                var r = await client.GetLanesReportAsync(cancellationToken);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(r, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
                    return 0;
                }

                foreach (var lane in r.Lanes)
                {
                    Console.WriteLine($"lane {lane.Name}: {lane.Cpus} CPU, {lane.MemoryBytes / (1024.0 * 1024):0.#} MiB, concurrency {lane.Concurrency}, runner {lane.RunnerLabel}");
                }

                foreach (var i in r.Installables)
                {
                    Console.WriteLine($"{i.Installable}: {i.Attempts} attempt(s), {i.OutOfMemoryKills} OOM kill(s); bootstrap {S(i.BootstrapSeconds)}, cold build {S(i.ColdBuildSeconds)}, warm build {S(i.WarmBuildSeconds)}");
                    foreach (var l in i.Lanes)
                    {
                        Console.WriteLine($"  on {l.Lane}: {l.Runs} run(s), median {S(l.MedianSeconds)}, peak {l.MaxPeakMemoryBytes?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes");
                    }
                }

                return 0;
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel lanes report: {e.Message}");
                return 1;
            }
        });
        return new Command("lanes", "Build lanes.") { report };
    }

    private static string S(double? seconds) => seconds is { } s ? s.ToString("0.###", CultureInfo.InvariantCulture) + " s" : "n/a";
}
