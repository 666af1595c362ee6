using System.Diagnostics;
using System.Text;

namespace Flywheel.Cache.Builds;

/// <summary>
/// Runs programs for builds over <see cref="Process"/>: arguments through <see cref="ProcessStartInfo.ArgumentList"/>,
/// standard output kept (bounded; builds print store paths there), standard error streamed line by line to a log
/// (unbounded size), and a time limit after which the whole process tree is killed.
/// </summary>
public sealed class ProcessRunner
{
    /// <summary>The most standard output kept; more is dropped (Nix prints paths there, not logs).</summary>
    public const int MaxOutputChars = 1 << 20;

    /// <param name="log">Receives standard error lines (and is not closed); null drops them.</param>
    /// <param name="started">Called with the process once it runs (memory sampling watches it).</param>
    public async Task<ProcessResult> RunAsync(ProcessCommand command, TextWriter? log, Action<Process>? started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var startInfo = new ProcessStartInfo(command.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in command.Arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (command.WorkingDirectory is not null)
        {
            startInfo.WorkingDirectory = command.WorkingDirectory;
        }

        foreach (var (name, value) in command.Environment)
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

        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CacheException(CacheError.Unavailable, $"cannot run '{command.FileName}': {e.Message}", e);
        }

        process.StandardInput.Close();
        started?.Invoke(process);
        var output = new StringBuilder();
        var readOutput = ReadOutputAsync(process.StandardOutput, output);
        var readErrors = CopyLinesAsync(process.StandardError, log);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(command.Timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            if (!timedOut)
            {
                throw;
            }
        }

        await Task.WhenAll(readOutput, readErrors).ConfigureAwait(false);
        return new ProcessResult(process.ExitCode, output.ToString(), stopwatch.Elapsed, timedOut);
    }

    private static async Task ReadOutputAsync(StreamReader reader, StringBuilder output)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            output.Append(buffer, 0, Math.Min(read, Math.Max(0, MaxOutputChars - output.Length)));
        }
    }

    private static async Task CopyLinesAsync(StreamReader reader, TextWriter? log)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (log is not null)
            {
                await log.WriteLineAsync(line).ConfigureAwait(false);
            }
        }
    }
}
