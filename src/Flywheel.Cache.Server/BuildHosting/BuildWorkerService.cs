using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Hosting;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.BuildHosting;

/// <summary>
/// The in-process workers: by default one per lane on the embedded SQLite index (none with PostgreSQL, where
/// <c>flywheel worker</c> processes run the builds), or <see cref="BuildOptions.Workers"/> of them on every lane. They
/// push with a token the daemon creates for them at start (push on all caches; its secret lives only in memory, and it is revoked when they stop) and
/// reach the gateway at its own HTTP address.
/// </summary>
internal sealed class BuildWorkerService(
    BuildOptions builds, ServerOptions options, IMetadataIndex index, TokenService tokens, LaneSet lanes, FlywheelMetrics metrics, TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var (count, onePerLane) = builds.InProcessWorkers(options.Index);
        if (count == 0)
        {
            return;
        }

        var (token, secret) = await tokens.CreateAsync("*", TokenScopes.Pull | TokenScopes.Push, TimeSpan.FromDays(3650), "in-process build workers", stoppingToken)
            .ConfigureAwait(false);
        var gateway = new Uri($"http://{(options.Http.Address.Equals(System.Net.IPAddress.Any) ? "127.0.0.1" : options.Http.Address.ToString())}:{options.Http.Port}/");
        var work = Path.Combine(options.DataDirectory, "builds");
        Directory.CreateDirectory(work);
        var environment = new Dictionary<string, string?>();
        if (builds.NixConfDir is not null)
        {
            environment["NIX_CONF_DIR"] = builds.NixConfDir;
        }

        using var http = new HttpClient();
        var runner = new NixBuildRunner(new NixBuildSettings(gateway, secret, work, environment, TimeSpan.FromHours(6)), new ProcessRunner(), http);
        var all = lanes.All.Select(l => l.Name).ToArray();
        var workers = Enumerable.Range(0, count).Select(i =>
            new BuildWorker(index, index, index, lanes, onePerLane ? [all[i]] : all,
                onePerLane ? $"{Environment.MachineName}/{Environment.ProcessId}/in-process-{all[i]}" : $"{Environment.MachineName}/in-process-{i}",
                runner, work, builds.Lease, metrics, time, loggers.CreateLogger<BuildWorker>())
                .RunAsync(BuildWorker.Poll, stoppingToken));
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            await tokens.RevokeAsync(token.Id, CancellationToken.None).ConfigureAwait(false); // one token per start, none left behind
        }
    }
}
