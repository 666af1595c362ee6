using System.Diagnostics;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Builds;

/// <summary>
/// Runs one attempt of a build in timed phases: bootstrap (the toolchain runs and the store is writable), evaluation
/// (the .drv path), build (a dry run with the gateway as substituter counts what will be built versus fetched, then
/// <c>nix-store --realise</c> inside the lane's memory envelope) and upload (<c>nix copy --to</c> the gateway with a netrc,
/// then the log to <c>/&lt;cache&gt;/log/&lt;drv&gt;</c>). A phase that fails ends the attempt and says why.
/// </summary>
public sealed class NixBuildRunner(NixBuildSettings settings, ProcessRunner processes, HttpClient http)
{
    private const string Features = "nix-command";

    private readonly ProcessRunner _processes = processes;

    /// <param name="publicKey">The cache's public key (the substituter's trusted key).</param>
    /// <param name="phaseStarted">Told the name of each phase as it starts (live progress); null: nobody listens.</param>
    public async Task<BuildAttemptResult> RunAsync(
        BuildRecord build, Lane lane, string publicKey, string attemptDirectory, CancellationToken cancellationToken,
        Func<string, CancellationToken, Task>? phaseStarted = null)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(lane);
        var installable = Installable.Parse(build.Installable);
        Directory.CreateDirectory(attemptDirectory);
        var logFile = Path.Combine(attemptDirectory, "build.log");
        var netrc = Path.Combine(attemptDirectory, "netrc");
        await File.WriteAllTextAsync(netrc, $"machine {settings.Gateway.Host} login flywheel password {settings.Token ?? ""}\n", cancellationToken)
            .ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(netrc, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var substituter = new Uri(settings.Gateway, Uri.EscapeDataString(build.Cache)).ToString();

        using var envelope = MemoryEnvelopes.Create(lane.MemoryBytes);
        await using var log = new StreamWriter(logFile, append: false) { AutoFlush = true };
        var phases = new List<BuildPhase>();
        var attempt = new Attempt(this, log, envelope, phases, logFile, phaseStarted);

        // 1. bootstrap: outside the envelope, so that a missing toolchain reads as such and not as a memory kill
        var probe = Path.Combine(attemptDirectory, "flywheel-bootstrap-probe");
        await File.WriteAllTextAsync(probe, "flywheel bootstrap probe\n", cancellationToken).ConfigureAwait(false);
        var bootstrap = await attempt.PhaseAsync("bootstrap", inEnvelope: false, cancellationToken,
            Command(settings.Tool("nix"), "--version"),
            Command(settings.Tool("nix-store"), "--add", probe)).ConfigureAwait(false);
        if (bootstrap.Failed is { } bootstrapError)
        {
            return attempt.Finish(FailureOutcome(false, bootstrap.TimedOut), bootstrap.ExitCode, null, [], 0, 0,
                $"bootstrap: the Nix toolchain is missing or unusable ({bootstrapError}); no build was tried");
        }

        // 2. evaluation
        var evaluate = installable.IsFile
            ? Command(settings.Tool("nix-instantiate"), [installable.Source, .. installable.Attribute.Length > 0 ? new[] { "-A", installable.Attribute } : []])
            : Command(settings.Tool("nix"), "--extra-experimental-features", Features + " flakes", "eval", "--raw", installable.Source + "#" + installable.Attribute + ".drvPath");
        var evaluation = await attempt.PhaseAsync("evaluation", inEnvelope: true, cancellationToken, evaluate).ConfigureAwait(false);
        var drv = evaluation.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (evaluation.Failed is not null || drv is null || !drv.EndsWith(".drv", StringComparison.Ordinal))
        {
            return attempt.FinishFailure(evaluation, drv, $"evaluation of '{build.Installable}' failed: {evaluation.Failed ?? "it printed no .drv path"}");
        }

        // 3. build, with the gateway as substituter
        string[] substitution = ["--option", "substituters", substituter, "--option", "trusted-public-keys", publicKey, "--option", "netrc-file", netrc];
        var dryRun = await attempt.PhaseAsync("plan", inEnvelope: false, cancellationToken,
            Command(settings.Tool("nix-store"), ["--realise", "--dry-run", drv, .. substitution])).ConfigureAwait(false);
        var plan = DryRunPlan.Parse(dryRun.Errors);
        var realise = await attempt.PhaseAsync("build", inEnvelope: true, cancellationToken,
            Command(settings.Tool("nix-store"), ["--realise", drv, .. substitution])).ConfigureAwait(false);
        var outputs = realise.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (realise.Failed is { } buildError)
        {
            return attempt.FinishFailure(realise, drv, $"build of {drv} on {lane.Name} failed: {buildError}", plan);
        }

        // 4. upload of the outputs (their closure) and the log
        if (settings.Token is not null)
        {
            var upload = await attempt.PhaseAsync("upload", inEnvelope: false, cancellationToken,
                Command(settings.Tool("nix"), ["--extra-experimental-features", Features, "copy", "--to", substituter, "--option", "netrc-file", netrc, .. outputs]))
                .ConfigureAwait(false);
            if (upload.Failed is { } uploadError)
            {
                return attempt.Finish(FailureOutcome(false, upload.TimedOut), upload.ExitCode, drv, outputs, plan.ToBuild.Count, plan.ToFetch.Count,
                    $"upload of the outputs to {substituter} failed: {uploadError}");
            }
        }

        return attempt.Finish(BuildOutcome.Succeeded, 0, drv, outputs, plan.ToBuild.Count, plan.ToFetch.Count, null);
    }

    /// <summary>
    /// Sends the attempt's log to the gateway and returns its cache file path: <c>{Gateway}/{cache}/log/{drv name}</c> (the
    /// route Nix's own log upload uses) once the attempt has a derivation, else (it failed in bootstrap or evaluation)
    /// <c>{Gateway}/_api/v1/builds/{id}/log</c>, kept at <see cref="BuildRecord.AttemptLogPath"/>.
    /// </summary>
    public async Task<string> UploadLogAsync(BuildRecord build, string? derivation, string logFile, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        var (path, uri) = derivation is not null
            ? ("log/" + Path.GetFileName(derivation), new Uri(settings.Gateway, Uri.EscapeDataString(build.Cache) + "/log/" + Path.GetFileName(derivation)))
            : (build.AttemptLogPath, new Uri(settings.Gateway, "_api/v1/builds/" + Uri.EscapeDataString(build.Id) + "/log"));
        await using var body = File.OpenRead(logFile);
        using var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new StreamContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("flywheel:" + settings.Token)));
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new CacheException(CacheError.Unavailable, $"storing the build log at {uri} failed: HTTP {(int)response.StatusCode}");
        }

        return path;
    }

    /// <summary>
    /// How a failed phase ended: killed for memory only on the envelope's own evidence (the cgroup's oom_kill counter, or
    /// the sampler's kill), timed out when the runner stopped it at its deadline, else failed. The exit code decides
    /// nothing: a deadline kill and a memory kill both end in SIGKILL (137).
    /// </summary>
    public static BuildOutcome FailureOutcome(bool outOfMemoryKilled, bool timedOut) =>
        outOfMemoryKilled ? BuildOutcome.OutOfMemory : timedOut ? BuildOutcome.TimedOut : BuildOutcome.Failed;

    private ProcessCommand Command(string file, params string[] arguments) =>
        new(file, arguments, settings.PhaseTimeout) { Environment = settings.Environment, WorkingDirectory = settings.WorkDirectory };

    /// <param name="TimedOut">Whether the runner killed a command of the phase for running past its time limit.</param>
    private sealed record PhaseRun(string Output, string Errors, int? ExitCode, string? Failed, bool TimedOut);

    /// <summary>The state of one attempt: its log, envelope and the phases so far.</summary>
    private sealed class Attempt(
        NixBuildRunner runner, StreamWriter log, IMemoryEnvelope envelope, List<BuildPhase> phases, string logFile, Func<string, CancellationToken, Task>? phaseStarted)
    {
        /// <summary>Runs the commands in order (stopping at the first failure) as one timed phase.</summary>
        public async Task<PhaseRun> PhaseAsync(string name, bool inEnvelope, CancellationToken cancellationToken, params ProcessCommand[] commands)
        {
            if (phaseStarted is not null)
            {
                await phaseStarted(name, cancellationToken).ConfigureAwait(false);
            }

            var stopwatch = Stopwatch.StartNew();
            var output = "";
            using var errors = new StringWriter();
            using var tee = new TeeWriter(log, errors);
            int? exit = null;
            string? failed = null;
            var timedOut = false;
            foreach (var plain in commands)
            {
                var command = inEnvelope ? envelope.Wrap(plain) : plain;
                await log.WriteLineAsync($"# {name}: {plain}").ConfigureAwait(false);
                try
                {
                    var result = await runner._processes.RunAsync(command, tee, inEnvelope ? envelope.Watch : null, cancellationToken).ConfigureAwait(false);
                    output = result.StandardOutput;
                    exit = result.ExitCode;
                    if (result.TimedOut)
                    {
                        timedOut = true;
                        failed = $"'{plain.FileName}' did not finish within {plain.Timeout} and was stopped";
                    }
                    else if (result.ExitCode != 0)
                    {
                        failed = $"'{plain.FileName}' exited with {result.ExitCode}" + (result.ExitCode == 127 ? " (not found)" : "");
                    }
                }
                catch (CacheException e) when (e.Error == CacheError.Unavailable)
                {
                    failed = e.Message;
                }

                if (failed is not null)
                {
                    await log.WriteLineAsync($"# {name} failed: {failed}").ConfigureAwait(false);
                    break;
                }
            }

            phases.Add(new BuildPhase(name, stopwatch.Elapsed, failed is null));
            return new PhaseRun(output, errors.ToString(), exit, failed, timedOut);
        }

        public BuildAttemptResult FinishFailure(PhaseRun run, string? drv, string error, DryRunPlan? plan = null)
        {
            var outcome = FailureOutcome(envelope.OutOfMemoryKilled, run.TimedOut);
            return Finish(outcome, run.ExitCode, drv, [], plan?.ToBuild.Count ?? 0, plan?.ToFetch.Count ?? 0,
                outcome == BuildOutcome.OutOfMemory ? $"{error}; killed for exceeding the memory envelope of {envelope.LimitBytes} bytes ({envelope.Method})" : error);
        }

        public BuildAttemptResult Finish(BuildOutcome outcome, int? exit, string? drv, IReadOnlyList<string> outputs, int built, int fetched, string? error) =>
            new(outcome, exit, phases, outputs, drv, envelope.PeakBytes, envelope.Method, built, fetched, logFile, error);
    }

    /// <summary>Writes each line to the attempt's log and to the phase's own copy (parsed afterwards).</summary>
    private sealed class TeeWriter(TextWriter first, TextWriter second) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value)
        {
            first.Write(value);
            second.Write(value);
        }

        public override async Task WriteLineAsync(string? value)
        {
            await first.WriteLineAsync(value).ConfigureAwait(false);
            await second.WriteLineAsync(value).ConfigureAwait(false);
        }
    }
}
