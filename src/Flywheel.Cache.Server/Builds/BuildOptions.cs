using System.Globalization;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Server.Builds;

/// <summary>
/// Build orchestration settings: the lanes (section <c>Lanes</c>: <c>Lanes:0:Name</c>, <c>:Cpus</c>, <c>:MemoryBytes</c>,
/// <c>:Concurrency</c>, <c>:RunnerLabel</c>; default <see cref="Lane.Defaults"/>), how many in-process workers run
/// (<c>Builds:Workers</c>, default 0: builds wait for <c>flywheel worker</c>), and the nix.conf folder they use
/// (<c>Builds:NixConfDir</c>; default: the machine's), and how long a worker holds a build without renewing
/// (<c>Builds:Lease</c>, default <see cref="DefaultLease"/>).
/// </summary>
public sealed record BuildOptions(IReadOnlyList<Lane> Lanes, int Workers, string? NixConfDir, TimeSpan Lease)
{
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(1);

    public static BuildOptions Load(IConfiguration configuration, List<string> errors)
    {
        var lanes = new List<Lane>();
        foreach (var section in configuration.GetSection(ConfigKeys.LanesSection).GetChildren())
        {
            var name = section[ConfigKeys.LaneName] ?? "";
            lanes.Add(new Lane(
                name,
                (int)Int(section, ConfigKeys.LaneCpus, 1, errors),
                Int(section, ConfigKeys.LaneMemoryBytes, 0, errors, long.MaxValue),
                (int)Int(section, ConfigKeys.LaneConcurrency, 1, errors),
                section[ConfigKeys.LaneRunnerLabel] is { Length: > 0 } label ? label : name));
        }

        var workers = (int)Int(configuration, ConfigKeys.BuildsWorkers, 0, errors, 64);
        var lease = Hosting.ServerOptions.Duration(configuration, ConfigKeys.BuildsLease, DefaultLease, errors);
        if (lease < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{ConfigKeys.BuildsLease}: '{lease}' is too short; at least 00:00:01");
        }

        try
        {
            _ = new LaneSet(lanes.Count > 0 ? lanes : Lane.Defaults);
        }
        catch (CacheException e)
        {
            errors.Add($"{ConfigKeys.LanesSection}: {e.Message}");
        }

        return new BuildOptions(lanes.Count > 0 ? lanes : Lane.Defaults, workers, configuration[ConfigKeys.BuildsNixConfDir] is { Length: > 0 } conf ? conf : null,
            lease);
    }

    private static long Int(IConfiguration section, string key, long fallback, List<string> errors, long max = int.MaxValue)
    {
        var text = section[key];
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > max)
        {
            errors.Add($"{(section is IConfigurationSection s ? s.Path + ":" : "")}{key}: '{text}' is not a whole number up to {max}");
            return fallback;
        }

        return value;
    }
}
