namespace Flywheel.Cache.Builds;

/// <summary>
/// A program and its arguments as a list (each passed as one argv entry; never joined into a command line),
/// with environment overrides (a null value removes a variable) and a time limit.
/// </summary>
public sealed record ProcessCommand(string FileName, IReadOnlyList<string> Arguments, TimeSpan Timeout)
{
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public string? WorkingDirectory { get; init; }

    /// <summary>For logs: the program and arguments, each quoted (never executed).</summary>
    public override string ToString() => string.Join(' ', new[] { FileName }.Concat(Arguments).Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a));
}

/// <summary>How a process ended. <paramref name="ExitCode"/> is 128 + signal when a signal killed it (the shell convention, 137 for SIGKILL).</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, TimeSpan Duration, bool TimedOut)
{
    public bool Killed => ExitCode == 137;
}
