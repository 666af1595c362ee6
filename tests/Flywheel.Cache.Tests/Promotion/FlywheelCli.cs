using System.Diagnostics;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>What a run of the <c>flywheel</c> CLI gave.</summary>
internal sealed record CliResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}

/// <summary>Runs the real <c>flywheel</c> executable (the build output next to the tests) as a separate process.</summary>
internal static class FlywheelCli
{
    /// <summary>Runs <c>dotnet flywheel.dll ARGS</c>; the containers auth file is <paramref name="authFile"/> (never the machine's).</summary>
    public static async Task<CliResult> RunAsync(IEnumerable<string> args, string? authFile = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "flywheel.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["REGISTRY_AUTH_FILE"] = authFile ?? Path.Combine(Path.GetTempPath(), "flywheel-no-auth-file.json");
        start.Environment.Remove("FLYWHEEL_SERVER");
        start.Environment.Remove("FLYWHEEL_TOKEN");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
