using Flywheel.Cache.Builds;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>Runs the real <c>flywheel</c> executable (the build output next to the tests) as a separate process.</summary>
internal static class FlywheelCli
{
    /// <summary>Runs <c>dotnet flywheel.dll ARGS</c>; the containers auth file is <paramref name="authFile"/> (never the machine's).</summary>
    public static Task<ProcessResult> RunAsync(IEnumerable<string> args, string? authFile = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var variables = new Dictionary<string, string?>
        {
            ["REGISTRY_AUTH_FILE"] = authFile ?? Path.Combine(Path.GetTempPath(), "flywheel-no-auth-file.json"),
            ["FLYWHEEL_SERVER"] = null,
            ["FLYWHEEL_TOKEN"] = null,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            variables[key] = value;
        }

        return TestProcess.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "flywheel.dll"), .. args], variables, timeout: TimeSpan.FromMinutes(2));
    }
}
