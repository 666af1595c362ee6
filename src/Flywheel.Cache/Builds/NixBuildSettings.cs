namespace Flywheel.Cache.Builds;

/// <summary>How a worker runs Nix and reaches the gateway.</summary>
/// <param name="Gateway">The gateway's base URL: the cache <c>C</c> is the substituter and upload target <c>{Gateway}/C</c>.</param>
/// <param name="Token">A token with push on the cache (sent as netrc password to Nix, Basic to the log upload); null: no upload.</param>
/// <param name="WorkDirectory">Where attempts keep their logs and netrc files (a folder per attempt, removed afterwards).</param>
/// <param name="Environment">Variables for every Nix process (null removes one), e.g. NIX_CONF_DIR.</param>
/// <param name="NixBinDirectory">Where nix, nix-store and nix-instantiate are; null: the PATH.</param>
public sealed record NixBuildSettings(
    Uri Gateway,
    string? Token,
    string WorkDirectory,
    IReadOnlyDictionary<string, string?> Environment,
    TimeSpan PhaseTimeout,
    string? NixBinDirectory = null)
{
    public string Tool(string name) => NixBinDirectory is null ? name : Path.Combine(NixBinDirectory, name);
}
