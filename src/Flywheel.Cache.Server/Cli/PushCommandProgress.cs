using System.Globalization;
using Spectre.Console;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// What <c>flywheel push</c> shows on standard error while it uploads (standard output stays for <c>--json</c>). Live
/// (a terminal, and not <c>CI=true</c>): a Spectre.Console progress bar with paths done, NAR bytes, rate and time
/// left, failures printed above it as they happen. Plain (CI logs, files): one line per pushed or failed path.
/// </summary>
internal sealed class PushProgress
{
    private readonly TextWriter _error;
    private readonly IAnsiConsole? _console;
    private ProgressTask? _task;
    private int _done;
    private int _total;

    private PushProgress(TextWriter error, bool live)
    {
        _error = error;
        if (live)
        {
            _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        }
    }

    /// <summary>Live when standard error is a terminal that can move its cursor and this is not a CI run.</summary>
    public static PushProgress For(TextWriter error) =>
        new(error, BuildProgress.IsTerminal(Console.IsErrorRedirected) && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase));

    /// <summary>Runs <paramref name="upload"/> with the display for <paramref name="paths"/> paths of <paramref name="narBytes"/> bytes.</summary>
    public async Task RunAsync(int paths, long narBytes, Func<Task> upload)
    {
        _total = paths;
        if (_console is null)
        {
            await upload();
            return;
        }

        await _console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                _task = context.AddTask(Describe(), maxValue: Math.Max(1, narBytes));
                await upload();
                _task.Value = _task.MaxValue;
                _task.Description = Describe();
            });
    }

    /// <summary>NAR bytes read from the local store (called from several uploads at once).</summary>
    public void Advance(long bytes) => _task?.Increment(bytes);

    public void Pushed(LocalPathInfo path, PushedNar nar)
    {
        var done = Interlocked.Increment(ref _done);
        if (_task is { } task)
        {
            task.Description = Describe();
            return;
        }

        Line($"pushed {path.Path} ({done}/{_total}, {Bytes(nar.NarBytes)} NAR, {Bytes(nar.FileSize)} {nar.Name.Compression.ToString().ToLowerInvariant()})");
    }

    public void Failed(LocalPathInfo path, string reason)
    {
        if (_console is not null)
        {
            _console.MarkupLineInterpolated($"[red]failed[/] {path.Path}: {reason}");
            return;
        }

        Line($"FAILED {path.Path}: {reason}");
    }

    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
    };

    private string Describe() => $"{Volatile.Read(ref _done)}/{_total} paths";

    private void Line(string text)
    {
        lock (_error)
        {
            _error.WriteLine(text);
        }
    }
}
