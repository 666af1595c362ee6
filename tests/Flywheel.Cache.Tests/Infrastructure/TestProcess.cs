using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>How tests run programs: the core <see cref="ProcessRunner"/> with a test's defaults (five minutes, all output and
/// error kept for messages, standard input as text).</summary>
public static class TestProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The runner, for commands a test builds itself (<see cref="Command"/>).</summary>
    public static readonly ProcessRunner Runner = new();

    /// <param name="environment">Variables to set; a null value removes the variable from the child's environment.</param>
    public static Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? standardInput = null,
        TimeSpan? timeout = null,
        string? workingDirectory = null,
        CancellationToken cancellationToken = default) =>
        Runner.RunAsync(
            Command(fileName, arguments, timeout) with
            {
                Environment = environment ?? new Dictionary<string, string?>(),
                StandardInput = standardInput is null ? null : System.Text.Encoding.UTF8.GetBytes(standardInput),
                WorkingDirectory = workingDirectory,
            },
            null, null, cancellationToken);

    /// <summary>Starts a daemon (nginx, s3rver, a registry, flywheel) that runs until the handle is disposed; every line of
    /// its output and error goes to <paramref name="line"/>.</summary>
    public static RunningProcess Start(ProcessCommand command, Action<string> line) =>
        Runner.Start(command, l => { line(l); return Task.CompletedTask; }, l => { line(l); return Task.CompletedTask; });

    /// <summary>A command that keeps all output and error (tests print them when a step fails).</summary>
    public static ProcessCommand Command(string fileName, IEnumerable<string> arguments, TimeSpan? timeout = null) =>
        new(fileName, [.. arguments], timeout ?? DefaultTimeout) { MaxOutputChars = int.MaxValue, MaxErrorChars = int.MaxValue };
}
