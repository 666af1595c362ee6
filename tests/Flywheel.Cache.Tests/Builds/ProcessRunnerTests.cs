using System.Collections.Concurrent;
using System.Text;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Tests.Builds;

/// <summary>The one process runner (CliWrap underneath): argv kept verbatim, input fed, output bounded, errors streamed,
/// the whole tree killed at the deadline, the process id known while it runs.</summary>
public sealed class ProcessRunnerTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private readonly ProcessRunner _runner = new();

    private Task<ProcessResult> RunAsync(ProcessCommand command, TextWriter? log = null) => _runner.RunAsync(command, log, null, CancellationToken.None);

    [Fact]
    public async Task Arguments_with_spaces_quotes_and_shell_characters_are_passed_verbatim()
    {
        string[] arguments = ["%s|", "a b", "$HOME", "'single'", "\"double\"", "back\\slash\\\"", "", "; rm -rf /"];

        var result = await RunAsync(new ProcessCommand("/usr/bin/printf", arguments, Minute));

        Assert.Equal("a b|$HOME|'single'|\"double\"|back\\slash\\\"||; rm -rf /|", result.EnsureSuccess().StandardOutput);
    }

    [Fact]
    public async Task Standard_input_is_fed_from_bytes_or_a_stream_and_environment_overrides_set_and_remove()
    {
        var script = new ProcessCommand("/bin/sh", ["-c", "read line; echo \"$line ${FW_SET:-unset} ${HOME:-unset}\""], Minute)
        {
            Environment = new Dictionary<string, string?> { ["FW_SET"] = "set", ["HOME"] = null },
        };

        var fromBytes = await RunAsync(script with { StandardInput = Encoding.UTF8.GetBytes("bytes\n") });
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes("stream\n"));
        var fromStream = await RunAsync(script with { StandardInputStream = stream });
        var closed = await RunAsync(new ProcessCommand("/bin/cat", [], Minute));

        Assert.Equal("bytes set unset\n", fromBytes.EnsureSuccess().StandardOutput);
        Assert.Equal("stream set unset\n", fromStream.EnsureSuccess().StandardOutput);
        Assert.Equal("", closed.EnsureSuccess().StandardOutput);
    }

    [Fact]
    public async Task Standard_output_is_kept_up_to_the_callers_bound_and_the_rest_is_drained()
    {
        var command = new ProcessCommand("/bin/sh", ["-c", "head -c 1000000 /dev/zero | tr '\\0' a; echo done >&2"], Minute) { MaxOutputChars = 10, MaxErrorChars = 100 };

        var result = await RunAsync(command);

        Assert.Equal("aaaaaaaaaa", result.EnsureSuccess().StandardOutput);
        Assert.Equal("done\n", result.StandardError);
        Assert.Equal(1_000_000, (await RunAsync(command with { MaxOutputChars = int.MaxValue })).StandardOutput.Length);
    }

    [Fact]
    public async Task Standard_error_reaches_the_log_line_by_line_while_the_process_runs()
    {
        var lines = new ConcurrentQueue<string>();
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var running = _runner.Start(
            new ProcessCommand("/bin/sh", ["-c", "echo one >&2; echo two >&2; exec /bin/sleep 60"], Minute),
            null,
            line =>
            {
                lines.Enqueue(line);
                if (line == "two")
                {
                    second.TrySetResult();
                }

                return Task.CompletedTask;
            });

        await second.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(running.HasExited);
        Assert.Equal(["one", "two"], lines);
        var stopped = await running.StopAsync();
        Assert.False(stopped.TimedOut);
        Assert.Equal(ProcessResult.KilledExitCode, stopped.ExitCode);
    }

    [Fact]
    public async Task A_log_writer_gets_every_error_line_and_the_result_keeps_none_by_default()
    {
        using var log = new StringWriter();

        var result = await RunAsync(new ProcessCommand("/bin/sh", ["-c", "echo a >&2; echo b >&2; echo out"], Minute), log);

        Assert.Equal("a\nb\n", log.ToString().ReplaceLineEndings("\n"));
        Assert.Equal("", result.StandardError);
        Assert.Equal("out\n", result.StandardOutput);
    }

    [Fact]
    public async Task The_deadline_kills_the_whole_tree_including_a_grandchild()
    {
        var pidFile = Path.Combine(Path.GetTempPath(), $"flywheel-grandchild-{Guid.NewGuid():N}");
        try
        {
            // the shell starts a subshell that starts sleep: sleep is the runner's grandchild and holds standard output open
            var command = new ProcessCommand("/bin/sh", ["-c", "(/bin/sleep 60 & echo $! > \"$0\"; wait); echo never", pidFile], TimeSpan.FromSeconds(2));

            var result = await RunAsync(command);

            Assert.True(result.TimedOut);
            Assert.False(result.Succeeded);
            Assert.Equal(ProcessResult.KilledExitCode, result.ExitCode);
            Assert.True(result.Duration < TimeSpan.FromSeconds(30), result.Duration.ToString());
            var grandchild = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (IsAlive(grandchild) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.False(IsAlive(grandchild), $"the grandchild {grandchild} outlived the timeout");
            Assert.Contains("timed out", Assert.Throws<ProcessFailedException>(() => result.EnsureSuccess()).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [Fact]
    public async Task Cancellation_by_the_caller_kills_the_process_and_throws()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var started = DateTime.UtcNow;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _runner.RunAsync(new ProcessCommand("/bin/sleep", ["60"], Minute), null, null, cancel.Token));

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Exit_codes_are_reported_and_a_failure_message_has_the_command_and_both_outputs()
    {
        var result = await RunAsync(new ProcessCommand("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], Minute) { MaxErrorChars = 1000 });

        Assert.Equal(3, result.ExitCode);
        Assert.False(result.TimedOut);
        var error = Assert.Throws<ProcessFailedException>(() => result.EnsureSuccess());
        Assert.Contains("/bin/sh -c 'echo out; echo err >&2; exit 3'", error.Message, StringComparison.Ordinal);
        Assert.Contains("exit code 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("out\n", error.Message, StringComparison.Ordinal);
        Assert.Contains("err\n", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await RunAsync(new ProcessCommand("/bin/true", [], Minute))).ExitCode);
    }

    [Fact]
    public async Task A_missing_executable_is_a_clear_error()
    {
        var error = await Assert.ThrowsAsync<CacheException>(() => RunAsync(new ProcessCommand("/nonexistent/flywheel-no-such-tool", [], Minute)));

        Assert.Equal(CacheError.Unavailable, error.Error);
        Assert.Contains("cannot run '/nonexistent/flywheel-no-such-tool'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_process_id_is_known_while_it_runs()
    {
        int? seen = null;

        var result = await _runner.RunAsync(new ProcessCommand("/bin/sh", ["-c", "echo $$"], Minute), null, pid => seen = pid, CancellationToken.None);

        Assert.Equal(result.EnsureSuccess().StandardOutput.Trim(), seen?.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool IsAlive(int pid)
    {
        // a zombie (state Z) has exited and only waits to be reaped
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z') is false;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }
}
