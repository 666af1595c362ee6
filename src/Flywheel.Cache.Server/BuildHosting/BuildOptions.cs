using System.Globalization;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Server.BuildHosting;

/// <summary>
/// Build orchestration settings: the lanes (section <c>Lanes</c>: <c>Lanes:0:Name</c>, <c>:Cpus</c>, <c>:MemoryBytes</c>,
/// <c>:Concurrency</c>, <c>:RunnerLabel</c>; default <see cref="Lane.Defaults"/>), how many in-process workers run
/// (<c>Builds:Workers</c>: N workers on every lane; unset, null: one per lane on the embedded SQLite index, none with
/// PostgreSQL, where <c>flywheel worker</c> processes take the builds), the nix.conf folder they use
/// (<c>Builds:NixConfDir</c>; default: the machine's), how long a worker holds a build without renewing
/// (<c>Builds:Lease</c>, default <see cref="DefaultLease"/>), and how recently a worker must have polled to count as
/// serving its lanes (<c>Builds:WorkerLiveWindow</c>, default <see cref="DefaultLiveWindow"/>).
/// </summary>
public sealed record BuildOptions(IReadOnlyList<Lane> Lanes, int? Workers, string? NixConfDir, TimeSpan Lease)
{
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(1);

    /// <summary>Ten polls of a worker (<see cref="BuildWorker.Poll"/>): one slow index call does not make it look gone.</summary>
    public static readonly TimeSpan DefaultLiveWindow = TimeSpan.FromSeconds(10);

    public TimeSpan WorkerLiveWindow { get; init; } = DefaultLiveWindow;

    /// <summary>How many in-process workers run with the index <paramref name="index"/> (<c>sqlite</c> or <c>postgres</c>), and whether each serves one lane.</summary>
    public (int Count, bool OnePerLane) InProcessWorkers(string index) =>
        Workers is { } n ? (n, false) : index == "sqlite" ? (Lanes.Count, true) : (0, false);

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

        int? workers = string.IsNullOrEmpty(configuration[ConfigKeys.BuildsWorkers]) ? null : (int)Int(configuration, ConfigKeys.BuildsWorkers, 0, errors, 64);
        var lease = Hosting.ServerOptions.Duration(configuration, ConfigKeys.BuildsLease, DefaultLease, errors);
        if (lease < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{ConfigKeys.BuildsLease}: '{lease}' is too short; at least 00:00:01");
        }

        var liveWindow = Hosting.ServerOptions.Duration(configuration, ConfigKeys.BuildsWorkerLiveWindow, DefaultLiveWindow, errors);
        if (liveWindow < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{ConfigKeys.BuildsWorkerLiveWindow}: '{liveWindow}' is too short; at least 00:00:01");
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
            lease)
        {
            WorkerLiveWindow = liveWindow,
        };
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
