using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel lanes report --server URL --token T [--json]</c>: the lanes and, per installable, bootstrap, cold and warm
/// build seconds and, on every lane it ran on, its runs, successes, OOM kills and timeouts (when, after how long, at what
/// peak), median runtime and peak memory, from the daemon's build history.
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

                Write(Console.Out, r);
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

    /// <summary>The report as text: the lanes, then per installable every lane it ran on, with each OOM kill and timeout there.</summary>
    public static void Write(TextWriter output, LanesReport r)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(r);
        foreach (var lane in r.Lanes)
        {
            output.WriteLine($"lane {lane.Name}: {lane.Cpus} CPU, {lane.MemoryBytes / (1024.0 * 1024):0.#} MiB, concurrency {lane.Concurrency}, runner {lane.RunnerLabel}");
        }

        foreach (var i in r.Installables)
        {
            output.WriteLine($"{i.Installable}: {i.Attempts} attempt(s), {i.OutOfMemoryKills} OOM kill(s); bootstrap {S(i.BootstrapSeconds)}, cold build {S(i.ColdBuildSeconds)}, warm build {S(i.WarmBuildSeconds)}");
            foreach (var l in i.Lanes)
            {
                output.WriteLine($"  on {l.Lane}: {l.Runs} run(s), {l.Succeeded} succeeded, {l.OutOfMemoryKills.Count} OOM kill(s), {l.Timeouts.Count} timeout(s); median {S(l.MedianSeconds)}, peak {Bytes(l.MaxPeakMemoryBytes)}");
                foreach (var (what, kill) in l.OutOfMemoryKills.Select(k => ("OOM kill", k)).Concat(l.Timeouts.Select(k => ("timeout", k))))
                {
                    output.WriteLine($"    {what} at {kill.At.ToString("u", CultureInfo.InvariantCulture)} after {S(kill.Seconds)}, peak {Bytes(kill.PeakMemoryBytes)} ({kill.MemoryLimit}; build {kill.BuildId}, attempt {kill.Attempt})");
                }
            }
        }
    }

    private static string Bytes(long? bytes) => bytes is { } b ? b.ToString(CultureInfo.InvariantCulture) + " bytes" : "? bytes";

    private static string S(double? seconds) => seconds is { } s ? s.ToString("0.###", CultureInfo.InvariantCulture) + " s" : "n/a";
}
