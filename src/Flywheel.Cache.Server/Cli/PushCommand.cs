using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Flywheel.Cache.Builds;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel push [--cache main] [--server URL] [--token T] [--compression zstd|xz|none] [--jobs N] [--json] [--stdin] PATHS…</c>:
/// uploads the closure of store paths from the local Nix store to a cache, the way Attic and Cachix users push. The
/// closure comes from <c>nix path-info --json --recursive</c>; one <c>POST /_api/v1/caches/{name}/missing</c> per
/// 10,000 paths asks what the cache lacks; only those are uploaded, in parallel, through the Nix routes (NAR, then
/// narinfo), and a path's narinfo is sent only after every path it references is present, so no referrer is ever
/// visible before its references. A path that fails fails the run (exit 1) with its reason once the others are done;
/// running the command again pushes only what is still missing.
/// </summary>
internal static class PushCommand
{
    /// <summary>Store path hashes per missing-paths request (about 350 KB of JSON, below the API's 1 MiB).</summary>
    public const int MissingPageSize = 10_000;

    /// <summary>
    /// Uploads at once unless <c>--jobs</c> says otherwise: more than the cores, since a small path's upload mostly waits
    /// (for the server's verification and commit, shared by the uploads in flight), and the pooled 1 MiB spool buffers
    /// and size-matched compressors keep each one small.
    /// </summary>
    public static int DefaultJobs => Math.Max(8, 4 * Environment.ProcessorCount);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var daemon = new DaemonFlags("a token with push on the cache");
        var cache = new Option<string>("--cache") { Description = "the cache to push to", DefaultValueFactory = _ => "main" };
        var stdin = new Option<bool>("--stdin") { Description = "read store paths from standard input, one per line (besides PATHS)" };
        var compression = new Option<string>("--compression") { Description = "how NARs are compressed: zstd, xz or none", DefaultValueFactory = _ => "zstd" };
        compression.AcceptOnlyFromAmong("zstd", "xz", "none");
        var jobs = new Option<int>("--jobs") { Description = "uploads at once", DefaultValueFactory = _ => DefaultJobs };
        var json = new Option<bool>("--json") { Description = "print a summary as JSON on stdout (pushed, alreadyPresent, bytes, seconds, failures)" };
        var verbose = new Option<bool>("--verbose") { Description = "print on standard error how long each phase took (closure, missing-paths call, uploads by step)" };
        var paths = new Argument<string[]>("PATHS") { Description = "store paths (or symlinks to them, such as ./result); their closures are pushed", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("push", "Push store paths and their closures from the local Nix store to a cache.") { cache, stdin, compression, jobs, json, verbose, paths };
        daemon.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var names = (parse.GetValue(paths) ?? []).ToList();
                if (parse.GetValue(stdin))
                {
                    while (await Console.In.ReadLineAsync(cancellationToken) is { } line)
                    {
                        if (line.Trim().Length > 0)
                        {
                            names.Add(line);
                        }
                    }
                }

                if (names.Count == 0)
                {
                    throw CacheException.Invalid("name the store paths to push (or --stdin)");
                }

                var settings = new PushSettings(
                    daemon.ServerUrl(parse), daemon.TokenValue(parse), parse.GetValue(cache) ?? "main",
                    NarCompressions.TryFromNarInfoName(parse.GetValue(compression), out var c) ? c : NarCompression.Zstd,
                    Math.Max(1, parse.GetValue(jobs)), parse.GetValue(verbose));
                var summary = await RunAsync(settings, names, Console.Error, cancellationToken);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(summary, Json));
                }

                return summary.Failed == 0 ? 0 : 1;
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel push: {e.Message}" +
                    (e.Error == CacheError.Unauthenticated ? " (the token was refused: check --token or FLYWHEEL_TOKEN)" : ""));
                return 1;
            }
        });
        return command;
    }

    public static async Task<PushSummary> RunAsync(PushSettings settings, IReadOnlyList<string> names, TextWriter log, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        if (settings.Verbose)
        {
            using var process = Process.GetCurrentProcess();
            log.WriteLine($"phase start: process start to push (dotnet runtime, JIT, command line) in {(DateTime.Now - process.StartTime).TotalSeconds:F2} s");
        }

        var started = Stopwatch.GetTimestamp();
        var store = new PushLocalStore(new ProcessRunner(), Environment.GetEnvironmentVariable("NIX_STORE_DIR") is { Length: > 0 } dir ? dir : StorePath.DefaultStoreDir);
        var closure = await store.ReadClosureAsync([.. names.Select(store.Resolve)], cancellationToken);
        var phase = Phase(settings, log, $"closure: {closure.Count} paths from nix path-info", started);

        var missing = new HashSet<string>(StringComparer.Ordinal);
        await using (var api = new ApiAdminClient(settings.Server, settings.Token))
        {
            foreach (var page in closure.Chunk(MissingPageSize))
            {
                missing.UnionWith((await api.FindMissingPathsAsync(settings.Cache, [.. page.Select(p => p.Path.HashPart)], cancellationToken)).Missing);
            }
        }

        phase = Phase(settings, log, $"missing-paths call: {missing.Count} missing", phase);
        var toPush = ReferencesFirst([.. closure.Where(p => missing.Contains(p.Path.HashPart))]);
        var narBytes = toPush.Sum(p => p.NarSize);
        var progress = PushProgress.For(log);
        log.WriteLine($"pushing {toPush.Count} of {closure.Count} paths ({PushProgress.Bytes(narBytes)} NAR) to {settings.Server}{settings.Cache}");

        var failures = new ConcurrentQueue<PushFailure>();
        long uploaded = 0;
        using var uploader = new PushUploader(settings.Server, settings.Token, settings.Cache, settings.Compression, settings.Jobs * 2);
        using var slots = new SemaphoreSlim(settings.Jobs);
        await progress.RunAsync(toPush.Count, narBytes, async () =>
        {
            var pushes = new Dictionary<string, Task<bool>>(StringComparer.Ordinal);
            foreach (var path in toPush)
            {
                var references = path.References
                    .Where(r => r != path.Path.BaseName && pushes.ContainsKey(r))
                    .Select(r => (Name: r, Pushed: pushes[r]))
                    .ToArray();
                pushes[path.Path.BaseName] = PushOneAsync(path, references);
            }

            await Task.WhenAll(pushes.Values);
        });

        Phase(settings, log, $"uploads: {toPush.Count} paths; {uploader.Timings.Describe()}", phase);
        var failed = failures.ToArray();
        var summary = new PushSummary(
            settings.Cache, closure.Count, toPush.Count - failed.Length, closure.Count - toPush.Count, failed.Length,
            toPush.Where(p => !failed.Any(f => f.StorePath == p.Path.FullPath)).Sum(p => p.NarSize), uploaded, Math.Round(clock.Elapsed.TotalSeconds, 3), failed);
        log.WriteLine($"pushed {summary.Pushed} paths ({PushProgress.Bytes(summary.NarBytes)} NAR, {PushProgress.Bytes(summary.UploadedBytes)} uploaded), " +
            $"{summary.AlreadyPresent} already in {settings.Cache}, {summary.Failed} failed, in {summary.Seconds:F1} s");
        return summary;

        async Task<bool> PushOneAsync(LocalPathInfo path, (string Name, Task<bool> Pushed)[] references)
        {
            PushedNar nar;
            await slots.WaitAsync(cancellationToken);
            try
            {
                nar = await uploader.UploadNarAsync(path, progress.Advance, cancellationToken);
            }
            catch (Exception e) when (IsPathFailure(e))
            {
                return Fail(path, Reason(e));
            }
            finally
            {
                slots.Release();
            }

            var waiting = Stopwatch.GetTimestamp();
            foreach (var reference in references)
            {
                if (!await reference.Pushed)
                {
                    return Fail(path, $"not made visible: its reference {reference.Name} was not pushed");
                }
            }

            uploader.Timings.Add(ref uploader.Timings.ReferenceWait, waiting);

            try
            {
                await uploader.PutNarInfoAsync(path, nar, cancellationToken);
            }
            catch (Exception e) when (IsPathFailure(e))
            {
                return Fail(path, Reason(e));
            }

            Interlocked.Add(ref uploaded, nar.FileSize);
            progress.Pushed(path, nar);
            return true;
        }

        bool Fail(LocalPathInfo path, string reason)
        {
            failures.Enqueue(new PushFailure(path.Path.FullPath, reason));
            progress.Failed(path, reason);
            return false;
        }
    }

    /// <summary>With <c>--verbose</c>, one line for the phase that ends now (it began at <paramref name="from"/>, a <see cref="Stopwatch"/> timestamp); returns now.</summary>
    private static long Phase(PushSettings settings, TextWriter log, string what, long from)
    {
        var now = Stopwatch.GetTimestamp();
        if (settings.Verbose)
        {
            log.WriteLine($"phase {what} in {PushTimings.Seconds(now - from)}");
        }

        return now;
    }

    /// <summary>What fails one path and not the run: the server refused it, the connection broke, the store path could not be read.</summary>
    private static bool IsPathFailure(Exception e) => e is CacheException or HttpRequestException or IOException or UnauthorizedAccessException;

    /// <summary>The message, and for a broken connection what broke it (the inner exception says "Connection reset" and the like).</summary>
    private static string Reason(Exception e) =>
        e is HttpRequestException { InnerException: { } inner } ? $"{e.Message} ({inner.Message})" : e.Message;

    /// <summary>The paths ordered so that every path comes after the paths of the list it references (depth first, no recursion).</summary>
    internal static IReadOnlyList<LocalPathInfo> ReferencesFirst(IReadOnlyList<LocalPathInfo> paths)
    {
        var byName = paths.ToDictionary(p => p.Path.BaseName, StringComparer.Ordinal);
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var order = new List<LocalPathInfo>(paths.Count);
        var stack = new Stack<(LocalPathInfo Path, int Next)>();
        foreach (var root in paths)
        {
            if (!placed.Add(root.Path.BaseName))
            {
                continue;
            }

            stack.Push((root, 0));
            while (stack.TryPop(out var frame))
            {
                var (path, next) = frame;
                while (next < path.References.Count && (!byName.ContainsKey(path.References[next]) || !placed.Add(path.References[next])))
                {
                    next++;
                }

                if (next == path.References.Count)
                {
                    order.Add(path);
                    continue;
                }

                stack.Push((path, next + 1));
                stack.Push((byName[path.References[next]], 0));
            }
        }

        return order;
    }
}

/// <summary>Where and how <c>flywheel push</c> uploads.</summary>
internal sealed record PushSettings(Uri Server, string Token, string Cache, NarCompression Compression, int Jobs, bool Verbose = false);

/// <summary>The <c>--json</c> summary of a push: paths in the closure, pushed now, already present, failed, bytes and time.</summary>
internal sealed record PushSummary(
    string Cache, int Paths, int Pushed, int AlreadyPresent, int Failed, long NarBytes, long UploadedBytes, double Seconds, IReadOnlyList<PushFailure> Failures);

internal sealed record PushFailure(string StorePath, string Reason);
