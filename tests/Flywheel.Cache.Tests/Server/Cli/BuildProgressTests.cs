using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Cli;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Server.Cli;

/// <summary>What <c>flywheel build --wait</c> prints: live status lines per phase on a terminal, plain event lines elsewhere.</summary>
public sealed class BuildProgressTests
{
    private readonly ManualTimeProvider _time = new();

    private BuildView Running(string phase, double secondsIn, IReadOnlyList<AttemptView>? attempts = null) => new(
        "b1", "main", "x.nix#a", "running", "small", "asked for", 1, _time.GetUtcNow(), _time.GetUtcNow(), null, "w", [], null, null, attempts ?? [],
        Phase: phase, PhaseStartedAt: _time.GetUtcNow().AddSeconds(-secondsIn));

    private BuildView Succeeded() => new(
        "b1", "main", "x.nix#a", "succeeded", "small", "asked for", 1, _time.GetUtcNow(), _time.GetUtcNow(), _time.GetUtcNow(), "w", ["/nix/store/x-a"], null, null,
        [new AttemptView(1, "small", "succeeded", 0, 1000, "cgroup-v2", 1, 0,
            [new PhaseView("evaluation", 0.5, true), new PhaseView("build", 2.25, true)], _time.GetUtcNow(), _time.GetUtcNow())]);

    [Fact]
    public void On_a_terminal_each_phase_has_one_line_updated_in_place()
    {
        using var output = new StringWriter();
        var progress = new BuildProgress(output, live: true, _time);

        progress.Show(Running("evaluation", 0.25));
        progress.Show(Running("evaluation", 0.5));
        progress.Show(Running("build", 1));
        progress.Show(Running("build", 2));
        progress.Show(Succeeded());

        var text = output.ToString();
        Assert.Contains("\rbuild b1: attempt 1 on small: evaluation … 0.25 s\rbuild b1: attempt 1 on small: evaluation … 0.5 s \n", text, StringComparison.Ordinal);
        Assert.Contains("\rbuild b1: attempt 1 on small: build … 1 s\rbuild b1: attempt 1 on small: build … 2 s\n", text, StringComparison.Ordinal);
        Assert.Contains("build b1: attempt 1 on small: build ok in 2.25 s\n", text, StringComparison.Ordinal);
        Assert.EndsWith("build b1: succeeded: /nix/store/x-a\n", text, StringComparison.Ordinal);
        Assert.Single(text.Split('\n'), l => l.StartsWith("build b1: running on small, attempt 1", StringComparison.Ordinal));
    }

    [Fact]
    public void Elsewhere_it_prints_plain_lines_without_carriage_returns()
    {
        using var output = new StringWriter();
        var progress = new BuildProgress(output, live: false, _time);

        progress.Show(Running("evaluation", 0.25));
        progress.Show(Running("build", 1));
        progress.Show(Succeeded());

        var text = output.ToString();
        Assert.DoesNotContain('\r', text);
        Assert.Equal(
            [
                "build b1: running on small, attempt 1",
                "build b1: succeeded on small, attempt 1",
                "build b1: attempt 1 on small: evaluation ok in 0.5 s",
                "build b1: attempt 1 on small: build ok in 2.25 s",
                "build b1: attempt 1 on small ended succeeded, peak 1000 bytes (cgroup-v2), 1 built, 0 substituted",
                "build b1: succeeded: /nix/store/x-a",
            ],
            text.TrimEnd('\n').Split('\n'));
    }
}
