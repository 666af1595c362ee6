using System.Diagnostics;
using System.Text;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>Runs a program for a test: arguments as a list (never one concatenated string), environment overrides,
/// optional stdin text, a timeout that kills the whole process tree, stdout and stderr captured in full.</summary>
public static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <param name="environment">Variables to set; a null value removes the variable from the child's environment.</param>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? standardInput = null,
        TimeSpan? timeout = null,
        string? workingDirectory = null,
        CancellationToken cancellationToken = default)
    {
        var args = arguments.ToArray();
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }
        if (workingDirectory is not null)
        {
            startInfo.WorkingDirectory = workingDirectory;
        }
        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                if (value is null)
                {
                    startInfo.Environment.Remove(name);
                }
                else
                {
                    startInfo.Environment[name] = value;
                }
            }
        }

        var limit = timeout ?? DefaultTimeout;
        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"Could not start {ProcessResult.FormatCommand(fileName, args)}: {e.Message}", e);
        }

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            if (standardInput is not null)
            {
                await process.StandardInput.WriteAsync(standardInput.AsMemory(), cancellationToken);
            }
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The child exited without reading its input; its exit code and output tell the story.
        }

        var timedOut = false;
        using (var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeoutSource.CancelAfter(limit);
            try
            {
                await process.WaitForExitAsync(timeoutSource.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = !cancellationToken.IsCancellationRequested;
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
                await process.WaitForExitAsync(CancellationToken.None);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return new ProcessResult(
            fileName,
            args,
            timedOut ? -1 : process.ExitCode,
            await stdout,
            await stderr,
            stopwatch.Elapsed,
            timedOut);
    }
}

/// <summary>What a finished (or killed) process left behind.</summary>
public sealed record ProcessResult(
    string FileName,
    IReadOnlyList<string> Arguments,
    int ExitCode,
    string StandardOutput,
    string StandardError,
    TimeSpan Duration,
    bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>The command as a shell would need it typed, for messages only (never executed).</summary>
    public string CommandLine => FormatCommand(FileName, Arguments);

    /// <summary>Non-empty stdout lines, trimmed.</summary>
    public IReadOnlyList<string> OutputLines =>
        StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public ProcessResult EnsureSuccess()
    {
        if (!Succeeded)
        {
            throw new ProcessFailedException(this);
        }
        return this;
    }

    /// <summary>For tests that expect a command to fail: throws if it succeeded.</summary>
    public ProcessResult EnsureFailure()
    {
        if (Succeeded)
        {
            throw new ProcessFailedException(this, "was expected to fail but succeeded");
        }
        return this;
    }

    public string Describe(string what) =>
        $"{CommandLine}\n{what} " +
        (TimedOut ? $"(timed out after {Duration.TotalSeconds:F1}s)" : $"(exit code {ExitCode}, {Duration.TotalSeconds:F1}s)") +
        $"\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";

    internal static string FormatCommand(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { fileName }.Concat(arguments).Select(Quote));

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@+,%".Contains(c))
            ? arg
            : "'" + arg.Replace("'", "'\\''") + "'";
}

public sealed class ProcessFailedException(ProcessResult result, string what = "failed")
    : Exception(result.Describe(what))
{
    public ProcessResult Result { get; } = result;
}
