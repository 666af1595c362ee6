using System.CommandLine;
using Flywheel.Cache.Builds;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Hosting;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel worker --lane NAME --server URL --token T</c> plus the backend flags of <c>serve</c>: one worker (one per runner
/// pod) that takes builds of its lane from the index's queue (PostgreSQL lets many machines share it), builds them
/// with the gateway at --server as substituter, and pushes with the token (push on the caches it builds for).
/// </summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var backends = ConfigFlags.Backends();
        var lane = new Option<string[]>("--lane") { Description = "the lane(s) this worker takes builds of", Required = true, AllowMultipleArgumentsPerToken = true };
        var daemon = new DaemonFlags("a token with push on the caches");
        var command = new Command("worker", "Run Nix builds of a lane from the queue.") { lane };
        daemon.AddTo(command);
        backends.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new Dictionary<string, string?>();
            backends.Collect(parse, settings);
            try
            {
                var gateway = daemon.ServerUrl(parse);
                var secret = daemon.TokenValue(parse);
                await using var app = FlywheelHost.Build(settings);
                var index = app.Services.GetRequiredService<IMetadataIndex>();
                await index.MigrateAsync(cancellationToken);
                var lanes = app.Services.GetRequiredService<LaneSet>();
                var names = parse.GetValue(lane)!;
                foreach (var name in names)
                {
                    lanes.Get(name);
                }

                var options = app.Services.GetRequiredService<ServerOptions>();
                var work = Path.Combine(options.DataDirectory, "builds");
                Directory.CreateDirectory(work);
                using var http = new HttpClient();
                var runner = new NixBuildRunner(new NixBuildSettings(gateway, secret, work, new Dictionary<string, string?>(), TimeSpan.FromHours(6)), new ProcessRunner(), http);
                var worker = new BuildWorker(index, index, index, lanes, names, $"{Environment.MachineName}/{Environment.ProcessId}", runner, work, options.Builds.Lease,
                    app.Services.GetRequiredService<Metrics.FlywheelMetrics>(), TimeProvider.System,
                    app.Services.GetRequiredService<ILogger<BuildWorker>>());
                Console.Error.WriteLine($"worker on {string.Join(", ", names)}: taking builds, gateway {gateway}");
                await worker.RunAsync(BuildWorker.Poll, cancellationToken);
                return 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return 0;
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel worker: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
