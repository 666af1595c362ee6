using System.CommandLine;
using System.Text.Json;
using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel build --server URL --token T --cache C [--file FILE.nix --attr A | FLAKEREF#ATTR] [--lane L] [--wait] [--json]</c>:
/// queues a build on a running daemon; with <c>--wait</c> shows its progress (see <see cref="BuildProgress"/>) until it ends,
/// and exits 0 only when it succeeded; with <c>--json</c> prints the final record on stdout. While the build is queued
/// on a lane that no worker serves, it says so on standard error, with the command that starts one.
/// </summary>
internal static class BuildCommand
{
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);

    /// <summary>While waiting, how many polls apart the lane's workers are checked again.</summary>
    private const int WorkerCheckPolls = 10;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var daemon = new DaemonFlags("a token with push on the cache");
        var cache = new Option<string>("--cache") { Description = "the cache to push the outputs to", DefaultValueFactory = _ => "main" };
        var file = new Option<string>("--file") { Description = "a .nix file to build an attribute of (with --attr)" };
        var attr = new Option<string>("--attr") { Description = "the attribute of --file" };
        var lane = new Option<string>("--lane") { Description = "the lane to run on; default: the recommendation from the installable's history" };
        var wait = new Option<bool>("--wait") { Description = "wait until the build ends, printing its progress" };
        var json = new Option<bool>("--json") { Description = "print the final record as JSON on stdout" };
        var installable = new Argument<string?>("INSTALLABLE") { Description = "FLAKEREF#ATTR (or use --file and --attr)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("build", "Build a Nix installable on a lane and push its outputs to a cache.") { cache, file, attr, lane, wait, json, installable };
        daemon.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var what = parse.GetValue(file) is { } f ? Path.GetFullPath(f) + "#" + (parse.GetValue(attr) ?? "") : parse.GetValue(installable)
                    ?? throw CacheException.Invalid("name an installable: FLAKEREF#ATTR, or --file FILE.nix --attr A");
                var client = daemon.Client(parse);
                var build = await client.SubmitBuildAsync(new BuildRequest(what, parse.GetValue(cache), parse.GetValue(lane)), cancellationToken);
                Console.Error.WriteLine($"build {build.Id}: {build.Installable} queued on {build.Lane} ({build.LaneReason})");
                var warned = new HashSet<string>(StringComparer.Ordinal);
                await WarnWithoutWorkerAsync(client, build, warned, cancellationToken);
                if (parse.GetValue(wait))
                {
                    build = await WaitAsync(client, build, warned, cancellationToken);
                }

                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(build, Json));
                }

                return build.Status is "succeeded" or "queued" or "running" ? 0 : 1;
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel build: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>Polls until the build ends, showing its progress on standard error (live on a terminal, plain lines in CI logs).</summary>
    private static async Task<BuildView> WaitAsync(ApiAdminClient client, BuildView build, HashSet<string> warned, CancellationToken cancellationToken)
    {
        var progress = new BuildProgress(Console.Error, BuildProgress.IsTerminal(Console.IsErrorRedirected), TimeProvider.System);
        for (var polls = 1; ; polls++)
        {
            progress.Show(build);
            if (BuildView.IsFinal(build.Status))
            {
                return build;
            }

            await Task.Delay(Poll, cancellationToken);
            build = await client.GetBuildAsync(build.Id, cancellationToken);
            if (polls % WorkerCheckPolls == 0)
            {
                await WarnWithoutWorkerAsync(client, build, warned, cancellationToken);
            }
        }
    }

    /// <summary>
    /// While the build waits in the queue, says on standard error (once per lane) when no worker has polled its lane
    /// within the daemon's live window, and how to start one; standard output stays for --json.
    /// </summary>
    private static async Task WarnWithoutWorkerAsync(ApiAdminClient client, BuildView build, HashSet<string> warned, CancellationToken cancellationToken)
    {
        if (build.Status != "queued" || warned.Contains(build.Lane))
        {
            return;
        }

        var lanes = await client.GetLanesAsync(cancellationToken);
        if (lanes.FirstOrDefault(l => l.Name == build.Lane) is { Workers.Count: 0 })
        {
            warned.Add(build.Lane);
            Console.Error.WriteLine($"flywheel build: warning: {Flywheel.Cache.Builds.LaneWorkers.NoWorkerAdvice(build.Lane)}");
        }
    }
}
