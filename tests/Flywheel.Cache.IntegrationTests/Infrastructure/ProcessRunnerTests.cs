namespace Flywheel.Cache.IntegrationTests.Infrastructure;

public sealed class ProcessRunnerTests
{
    [Fact]
    public async Task Arguments_are_passed_verbatim_without_a_shell()
    {
        var result = await ProcessRunner.RunAsync("/usr/bin/printf", ["%s|", "a b", "$HOME", "'quoted'", ""]);

        Assert.Equal("a b|$HOME|'quoted'||", result.EnsureSuccess().StandardOutput);
    }

    [Fact]
    public async Task Environment_overrides_set_and_remove_variables_and_stdin_is_fed()
    {
        var result = await ProcessRunner.RunAsync("/bin/sh",
            ["-c", "read line; echo \"$line ${FW_SET:-unset} ${HOME:-unset}\""],
            new Dictionary<string, string?> { ["FW_SET"] = "set", ["HOME"] = null },
            standardInput: "hello\n");

        Assert.Equal("hello set unset\n", result.EnsureSuccess().StandardOutput);
    }

    [Fact]
    public async Task Failure_message_has_the_command_and_both_outputs()
    {
        var result = await ProcessRunner.RunAsync("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]);

        var error = Assert.Throws<ProcessFailedException>(() => result.EnsureSuccess());
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("/bin/sh -c 'echo out; echo err >&2; exit 3'", error.Message);
        Assert.Contains("exit code 3", error.Message);
        Assert.Contains("out\n", error.Message);
        Assert.Contains("err\n", error.Message);
    }

    [Fact]
    public async Task Timeout_kills_the_process_and_is_reported()
    {
        var result = await ProcessRunner.RunAsync("/bin/sh", ["-c", "echo started; /bin/sleep 30"], timeout: TimeSpan.FromMilliseconds(500));

        Assert.True(result.TimedOut);
        Assert.False(result.Succeeded);
        Assert.True(result.Duration < TimeSpan.FromSeconds(10));
        Assert.Contains("timed out", Assert.Throws<ProcessFailedException>(() => result.EnsureSuccess()).Message);
    }
}
