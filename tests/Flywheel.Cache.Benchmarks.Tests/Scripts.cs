using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Benchmarks.Tests;

/// <summary>Runs a bench script's program (bash, python3) through the one process runner and returns its exit code and output.</summary>
internal static class Scripts
{
    public static (int Exit, string Output) Run(string program, params string[] arguments)
    {
        var command = new ProcessCommand(program, arguments, TimeSpan.FromMinutes(5)) { MaxOutputChars = int.MaxValue, MaxErrorChars = int.MaxValue };
        var result = new ProcessRunner().RunAsync(command, null, null, CancellationToken.None).GetAwaiter().GetResult();
        return (result.ExitCode, result.StandardOutput + result.StandardError);
    }
}
