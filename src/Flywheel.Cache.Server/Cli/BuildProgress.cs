using System.Globalization;
using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// Prints the progress of a build that <c>flywheel build --wait</c> polls. Plain (CI logs, files): one line per event,
/// each phase with its time once the attempt has ended. Live (a terminal): besides those events, one status line per
/// phase that updates in place (carriage return) with the time spent so far, and stays when the next phase begins.
/// </summary>
internal sealed class BuildProgress(TextWriter output, bool live, TimeProvider time)
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private string? _liveKey;
    private int _liveWidth;

    /// <summary>Live when the progress goes to a terminal that can move its cursor (not <c>TERM=dumb</c>).</summary>
    public static bool IsTerminal(bool redirected) => !redirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    public void Show(BuildView build)
    {
        ArgumentNullException.ThrowIfNull(build);
        var state = $"{build.Status} on {build.Lane}, attempt {build.Attempt}";
        if (_seen.Add(state))
        {
            Line($"build {build.Id}: {state}" + (build.Status == "queued" && build.Attempt > 0 ? $" ({build.LaneReason})" : ""));
        }

        foreach (var attempt in build.Attempts.OrderBy(a => a.Attempt))
        {
            foreach (var phase in attempt.Phases)
            {
                if (_seen.Add($"{attempt.Attempt}/{phase.Name}"))
                {
                    Line($"build {build.Id}: attempt {attempt.Attempt} on {attempt.Lane}: {phase.Name} {(phase.Succeeded ? "ok" : "FAILED")} in {Seconds(phase.Seconds)}");
                }
            }

            if (_seen.Add($"{attempt.Attempt}/end"))
            {
                Line($"build {build.Id}: attempt {attempt.Attempt} on {attempt.Lane} ended {attempt.Outcome}, peak {attempt.PeakMemoryBytes?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes ({attempt.MemoryLimit}), {attempt.BuiltPaths} built, {attempt.SubstitutedPaths} substituted");
            }
        }

        if (live && build.Status == "running" && build.Phase is { } current && build.PhaseStartedAt is { } since)
        {
            Live($"{build.Attempt}/{current}", $"build {build.Id}: attempt {build.Attempt} on {build.Lane}: {current} … {Seconds((time.GetUtcNow() - since).TotalSeconds)}");
        }

        if (BuildView.IsFinal(build.Status))
        {
            Line(build.Status == "succeeded"
                ? $"build {build.Id}: succeeded: {string.Join(' ', build.Outputs)}"
                : $"build {build.Id}: {build.Status}: {build.Error}");
        }
    }

    /// <summary>A line that stays; a live line being shown is kept as it last read.</summary>
    private void Line(string text)
    {
        EndLive();
        output.WriteLine(text);
    }

    /// <summary>Rewrites the live line of <paramref name="key"/> (a phase of an attempt); a new phase gets a line of its own.</summary>
    private void Live(string key, string text)
    {
        if (_liveKey != key)
        {
            EndLive();
            _liveKey = key;
        }

        output.Write('\r');
        output.Write(text.PadRight(_liveWidth));
        output.Flush();
        _liveWidth = text.Length;
    }

    private void EndLive()
    {
        if (_liveKey is not null)
        {
            output.WriteLine();
            _liveKey = null;
            _liveWidth = 0;
        }
    }

    private static string Seconds(double seconds) => seconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
