using System.CommandLine;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>--server URL --token T</c> (defaults <c>$FLYWHEEL_SERVER</c>, <c>$FLYWHEEL_TOKEN</c>) of the commands that talk to a
/// running daemon and need it: build, worker, lanes report, promote.
/// </summary>
internal sealed class DaemonFlags(string tokenNeeds)
{
    public Option<string> Server { get; } = new("--server") { Description = "URL of the daemon (default: $FLYWHEEL_SERVER)" };

    public Option<string> Token { get; } = new("--token") { Description = $"{tokenNeeds} (default: $FLYWHEEL_TOKEN)" };

    public void AddTo(Command command)
    {
        command.Add(Server);
        command.Add(Token);
    }

    public Uri ServerUrl(ParseResult parse) =>
        new((parse.GetValue(Server) ?? Environment.GetEnvironmentVariable("FLYWHEEL_SERVER")
            ?? throw CacheException.Invalid("--server (or FLYWHEEL_SERVER) is required")).TrimEnd('/') + "/");

    public string TokenValue(ParseResult parse) =>
        parse.GetValue(Token) ?? Environment.GetEnvironmentVariable("FLYWHEEL_TOKEN") ?? throw CacheException.Invalid("--token (or FLYWHEEL_TOKEN) is required");

    public ApiAdminClient Client(ParseResult parse, TimeSpan? timeout = null) => new(ServerUrl(parse), TokenValue(parse), timeout);
}
