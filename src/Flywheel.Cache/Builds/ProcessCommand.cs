namespace Flywheel.Cache.Builds;

/// <summary>
/// A program and its arguments as a list (each passed as one argv entry; never joined into a command line for a shell),
/// with environment overrides (a null value removes a variable), optional standard input and a time limit after which
/// <see cref="ProcessRunner"/> kills the whole process tree.
/// </summary>
public sealed record ProcessCommand(string FileName, IReadOnlyList<string> Arguments, TimeSpan Timeout)
{
    /// <summary>The standard output kept by default (Nix prints store paths there, not logs); more is dropped.</summary>
    public const int DefaultMaxOutputChars = 1 << 20;

    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public string? WorkingDirectory { get; init; }

    /// <summary>Bytes fed to standard input; with neither this nor <see cref="StandardInputStream"/> the input is closed at once.</summary>
    public ReadOnlyMemory<byte>? StandardInput { get; init; }

    /// <summary>A stream copied to standard input (read once; the caller owns it).</summary>
    public Stream? StandardInputStream { get; init; }

    /// <summary>When set, standard output (binary) is copied here instead of kept as text (the caller owns the stream).</summary>
    public Stream? StandardOutputStream { get; init; }

    /// <summary>The most standard output kept in <see cref="ProcessResult.StandardOutput"/>.</summary>
    public int MaxOutputChars { get; init; } = DefaultMaxOutputChars;

    /// <summary>The most standard error kept in <see cref="ProcessResult.StandardError"/> (it is always streamed line by line to the caller's log).</summary>
    public int MaxErrorChars { get; init; }

    /// <summary>For logs and messages: the program and arguments quoted as a shell would need them typed (never executed).</summary>
    public override string ToString() => string.Join(' ', new[] { FileName }.Concat(Arguments).Select(Quote));

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@+,%".Contains(c, StringComparison.Ordinal))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>
/// How a process ended. <paramref name="TimedOut"/> is true when the runner killed it at its deadline (the exit code is then
/// 137, 128 + SIGKILL); <paramref name="StandardOutput"/> and <paramref name="StandardError"/> hold what the bounds kept.
/// </summary>
public sealed record ProcessResult(ProcessCommand Command, int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration, bool TimedOut)
{
    /// <summary>The exit code reported for a process the runner killed (128 + SIGKILL, the shell convention).</summary>
    public const int KilledExitCode = 137;

    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>Non-empty standard output lines, trimmed.</summary>
    public IReadOnlyList<string> OutputLines =>
        StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public ProcessResult EnsureSuccess() => Succeeded ? this : throw new ProcessFailedException(this);

    /// <summary>For callers that expect a command to fail: throws if it succeeded.</summary>
    public ProcessResult EnsureFailure() => Succeeded ? throw new ProcessFailedException(this, "was expected to fail but succeeded") : this;

    public string Describe(string what) =>
        $"{Command}\n{what} " +
        (TimedOut ? $"(timed out after {Duration.TotalSeconds:F1}s)" : $"(exit code {ExitCode}, {Duration.TotalSeconds:F1}s)") +
        $"\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>A process did not end the way its caller needed (<see cref="ProcessResult.EnsureSuccess"/>).</summary>
public sealed class ProcessFailedException(ProcessResult result, string what = "failed") : Exception(result.Describe(what))
{
    public ProcessResult Result { get; } = result;
}
