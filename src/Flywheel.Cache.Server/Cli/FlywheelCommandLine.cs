using System.CommandLine;

namespace Flywheel.Cache.Server.Cli;

/// <summary>The <c>flywheel</c> command line.</summary>
public static class FlywheelCommandLine
{
    public static RootCommand Create()
    {
        var root = new RootCommand("flywheel: Nix binary cache and Bazel remote cache for self-hosted CI");
        root.Add(ServeCommand.Create());
        root.Add(AdminCommands.CreateCacheCommand());
        root.Add(AdminCommands.CreateTokenCommand());
        root.Add(GcCommand.Create());
        root.Add(BuildCommand.Create());
        root.Add(WorkerCommand.Create());
        root.Add(LanesCommand.Create());
        root.Add(PromoteCommand.Create());
        root.Add(PushCommand.Create());
        root.Add(LoginCommand.Create());
        return root;
    }

    public static Task<int> RunAsync(string[] args) => Create().Parse(args).InvokeAsync();
}
