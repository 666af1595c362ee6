using System.ComponentModel;
using System.Text;
using CliWrap;

namespace Flywheel.Cache.Builds;

/// <summary>
/// The one way this repository runs programs (builds, workers, tests and benchmarks), over CliWrap: arguments as a list,
/// standard input fed from bytes or a stream (or closed), standard output kept up to <see cref="ProcessCommand.MaxOutputChars"/>,
/// standard error streamed line by line to the caller (and kept up to <see cref="ProcessCommand.MaxErrorChars"/>), and a
/// deadline after which the whole process tree is killed (CliWrap's forceful cancellation kills the entire tree).
/// </summary>
public sealed class ProcessRunner
{
    /// <summary>Runs <paramref name="command"/> to its end (or deadline).</summary>
    /// <param name="log">Receives standard error lines (and is not closed); null drops them.</param>
    /// <param name="started">Called with the process id once it runs (memory envelopes watch it).</param>
    /// <exception cref="CacheException"><see cref="CacheError.Unavailable"/> when the program cannot be started.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the tree is killed first).</exception>
    public async Task<ProcessResult> RunAsync(ProcessCommand command, TextWriter? log, Action<int>? started, CancellationToken cancellationToken)
    {
        await using var running = Start(command, null, log is null ? null : log.WriteLineAsync, cancellationToken);
        started?.Invoke(running.ProcessId);
        return await running.Completion.ConfigureAwait(false);
    }

    /// <summary>
    /// Starts <paramref name="command"/> and returns while it runs (daemons started by tests): <see cref="RunningProcess.Completion"/>
    /// ends with it, and disposing the handle kills the tree. Output and error lines go to the callbacks as they come.
    /// </summary>
    /// <exception cref="CacheException"><see cref="CacheError.Unavailable"/> when the program cannot be started.</exception>
    public RunningProcess Start(ProcessCommand command, Func<string, Task>? outputLine, Func<string, Task>? errorLine, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var output = new BoundedText(command.MaxOutputChars);
        var errors = new BoundedText(command.MaxErrorChars);
        var outputTarget = command.StandardOutputStream is { } outputStream
            ? PipeTarget.ToStream(outputStream)
            : PipeTarget.Create((stream, token) => output.ReadAsync(stream, token));
        if (outputLine is not null)
        {
            outputTarget = PipeTarget.Merge(outputTarget, PipeTarget.ToDelegate(outputLine, Encoding.UTF8));
        }

        var cli = Cli.Wrap(command.FileName)
            .WithArguments(command.Arguments)
            .WithEnvironmentVariables(command.Environment)
            .WithStandardInputPipe(command switch
            {
                { StandardInputStream: { } stream } => PipeSource.FromStream(stream),
                { StandardInput: { } bytes } => PipeSource.FromBytes(bytes),
                _ => PipeSource.Null,
            })
            .WithStandardOutputPipe(outputTarget)
            .WithStandardErrorPipe(PipeTarget.ToDelegate(
                async line =>
                {
                    errors.AppendLine(line);
                    if (errorLine is not null)
                    {
                        await errorLine(line).ConfigureAwait(false);
                    }
                },
                Encoding.UTF8))
            .WithValidation(CommandResultValidation.None);
        if (command.WorkingDirectory is not null)
        {
            cli = cli.WithWorkingDirectory(command.WorkingDirectory);
        }

        var kill = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (command.Timeout != Timeout.InfiniteTimeSpan)
        {
            kill.CancelAfter(command.Timeout);
        }

        CommandTask<CommandResult> task;
        try
        {
            task = cli.ExecuteAsync(kill.Token);
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            kill.Dispose();
            throw new CacheException(CacheError.Unavailable, $"cannot run '{command.FileName}': {(e.InnerException ?? e).Message}", e);
        }

        return new RunningProcess(command, task, kill, output, errors, cancellationToken);
    }

    /// <summary>Text kept up to a bound; the rest is read and dropped so the child never blocks on a full pipe.</summary>
    internal sealed class BoundedText(int limit)
    {
        private readonly StringBuilder _text = new();

        public void AppendLine(string line)
        {
            lock (_text)
            {
                Append(line.AsSpan());
                Append("\n");
            }
        }

        public async Task ReadAsync(Stream stream, CancellationToken cancellationToken)
        {
            using var reader = new StreamReader(stream, Encoding.UTF8, false, 4096, leaveOpen: true);
            var buffer = new char[4096];
            int read;
            while ((read = await reader.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                lock (_text)
                {
                    Append(buffer.AsSpan(0, read));
                }
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }

        private void Append(ReadOnlySpan<char> text) => _text.Append(text[..Math.Min(text.Length, Math.Max(0, limit - _text.Length))]);
    }
}

/// <summary>A process started by <see cref="ProcessRunner"/>; disposing it kills the whole tree if it still runs.</summary>
public sealed class RunningProcess : IAsyncDisposable
{
    private readonly CancellationTokenSource _kill;
    private volatile bool _stopped;

    internal RunningProcess(ProcessCommand command, CommandTask<CommandResult> task, CancellationTokenSource kill,
        ProcessRunner.BoundedText output, ProcessRunner.BoundedText errors, CancellationToken cancellationToken)
    {
        Command = command;
        ProcessId = task.ProcessId;
        _kill = kill;
        Completion = WaitAsync(task, output, errors, cancellationToken);
    }

    public ProcessCommand Command { get; }

    /// <summary>The id of the started process (memory envelopes and cgroup placement watch it).</summary>
    public int ProcessId { get; }

    /// <summary>Ends when the process has exited: normally, at its deadline (<see cref="ProcessResult.TimedOut"/>) or by <see cref="StopAsync"/>.</summary>
    public Task<ProcessResult> Completion { get; }

    public bool HasExited => Completion.IsCompleted;

    /// <summary>Kills the whole tree (if it still runs) and returns how it ended.</summary>
    public async Task<ProcessResult> StopAsync()
    {
        _stopped = true;
        await _kill.CancelAsync().ConfigureAwait(false);
        return await Completion.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Completion.IsCompleted)
        {
            _stopped = true;
            await _kill.CancelAsync().ConfigureAwait(false);
            try
            {
                await Completion.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // the caller's own cancellation: it sees it from Completion, the tree is gone either way
            }
        }

        _kill.Dispose();
    }

    private async Task<ProcessResult> WaitAsync(CommandTask<CommandResult> task, ProcessRunner.BoundedText output, ProcessRunner.BoundedText errors, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        try
        {
            var result = await task.ConfigureAwait(false);
            return new ProcessResult(Command, result.ExitCode, output.ToString(), errors.ToString(), result.RunTime, false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // killed by us: at the deadline (a timeout) or by StopAsync (not one)
            return new ProcessResult(Command, ProcessResult.KilledExitCode, output.ToString(), errors.ToString(), DateTimeOffset.UtcNow - started, !_stopped);
        }
    }
}
