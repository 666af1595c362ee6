using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Flywheel.Cache.Server;
using Flywheel.Cache.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Xunit.Abstractions;

namespace Flywheel.Cache.IntegrationTests.Nix;

/// <summary>
/// The Nix packaging (flake.nix, nix/) against the real <c>nix-instantiate</c> and the real solution:
/// every .nix file parses, the NixOS module can set exactly the daemon's configuration keys, and
/// nix/deps.json locks every NuGet package the server restores.
/// Nixpkgs is not needed: nix/settings.nix is pure and evaluated on its own.
/// </summary>
public sealed partial class NixFilesTests(ITestOutputHelper output)
{
    /// <summary>
    /// Keys the module may set before ConfigKeys.cs has them (none now); a key added to ConfigKeys must be
    /// removed here — the test fails while a key is in both lists.
    /// </summary>
    private static readonly string[] PendingKeys = [];

    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(60);

    private static readonly string RepoRoot = RepositoryRoot.Folder;

    public static TheoryData<string> NixFiles()
    {
        var files = new TheoryData<string>();
        foreach (var path in EnumerateNixFiles(RepoRoot))
        {
            files.Add(Path.GetRelativePath(RepoRoot, path).Replace('\\', '/'));
        }

        return files;
    }

    [Fact]
    public void The_packaging_files_exist()
    {
        var found = EnumerateNixFiles(RepoRoot).Select(p => Path.GetRelativePath(RepoRoot, p).Replace('\\', '/')).ToHashSet();
        Assert.Superset(
            new HashSet<string> { "flake.nix", "nix/package.nix", "nix/module.nix", "nix/settings.nix", "nix/image.nix" },
            found);
        Assert.True(File.Exists(Path.Combine(RepoRoot, "nix", "deps.json")), "nix/deps.json is missing");
        Assert.True(File.Exists(Path.Combine(RepoRoot, "nix", "update-deps.sh")), "nix/update-deps.sh is missing");
    }

    [Theory]
    [MemberData(nameof(NixFiles))]
    public void Nix_file_parses(string relativePath)
    {
        var nix = NixInstantiate();

        var result = Run(nix, ["--store", "dummy://", "--parse", Path.Combine(RepoRoot, relativePath)]);

        Assert.True(result.ExitCode == 0, $"nix-instantiate --parse {relativePath} failed:\n{result.StandardError}");
    }

    [Fact]
    public void Module_sets_exactly_the_daemons_configuration_keys()
    {
        var nix = NixInstantiate();

        var moduleNames = EvalJson(nix, "settings: (import settings).envNames")
            .AsArray().Select(n => n!.GetValue<string>()).ToList();

        Assert.Equal(moduleNames.Count, moduleNames.Distinct(StringComparer.Ordinal).Count());

        var stillPending = PendingKeys.Where(k => ConfigKeys.All.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
        Assert.True(stillPending.Count == 0,
            $"ConfigKeys.All now has {string.Join(", ", stillPending)}: remove them from {nameof(PendingKeys)}.");

        var byEnvName = ConfigKeys.All.Concat(PendingKeys).ToDictionary(EnvName, k => k, StringComparer.Ordinal);

        var unknown = moduleNames.Where(n => !byEnvName.ContainsKey(n)).ToList();
        Assert.True(unknown.Count == 0,
            $"nix/settings.nix sets {string.Join(", ", unknown)}, which match no key in ConfigKeys.All (nor a pending key).");

        var notSettable = ConfigKeys.All.Where(k => !moduleNames.Contains(EnvName(k))).ToList();
        Assert.True(notSettable.Count == 0,
            $"ConfigKeys.All has {string.Join(", ", notSettable)}, which the NixOS module cannot set: add them to nix/settings.nix and an option to nix/module.nix.");
    }

    [Fact]
    public void Module_environment_carries_every_option_and_keeps_secrets_out()
    {
        var nix = NixInstantiate();

        var cfg = SampleConfig(storage: "s3", index: "postgres");
        var result = EvalJson(nix,
            "settings: cfgJson: let s = import settings; cfg = builtins.fromJSON cfgJson; in { environment = s.environment cfg; secrets = s.secrets cfg; }",
            ("cfgJson", cfg.ToJsonString()));

        var environment = result["environment"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());
        Assert.Equal("127.0.0.1:8080", environment[EnvName(ConfigKeys.Http)]);
        Assert.Equal("127.0.0.1:9092", environment[EnvName(ConfigKeys.Grpc)]);
        Assert.Equal("/var/lib/flywheel-cache", environment[EnvName(ConfigKeys.Data)]);
        Assert.Equal("s3", environment[EnvName(ConfigKeys.Storage)]);
        Assert.Equal("postgres", environment[EnvName(ConfigKeys.Index)]);
        Assert.Equal("https://cache.example.org", environment[EnvName(ConfigKeys.PublicUrl)]);
        Assert.Equal("65536", environment[EnvName(ConfigKeys.MaxNarInfoBytes)]);
        Assert.Equal("00:00:02", environment[EnvName(ConfigKeys.NarInfoNegativeTtl)]);
        Assert.Equal("true", environment["FLYWHEEL_S3__PATHSTYLE"]);
        Assert.Equal("flywheel", environment["FLYWHEEL_S3__BUCKET"]);

        var secrets = result["secrets"]!.AsArray();
        var postgres = Assert.Single(secrets);
        Assert.Equal("FLYWHEEL_POSTGRES", postgres!["env"]!.GetValue<string>());
        Assert.Equal("postgres", postgres["credential"]!.GetValue<string>());
        Assert.Equal("/run/secrets/flywheel-postgres", postgres["file"]!.GetValue<string>());

        // The secret travels by file only: no value in the environment, not even its path.
        Assert.DoesNotContain("FLYWHEEL_POSTGRES", environment.Keys);
        Assert.DoesNotContain(environment.Values, v => v.Contains("flywheel-postgres", StringComparison.Ordinal));

        // With every option set, every configuration key reaches the daemon one way or the other.
        var delivered = environment.Keys.Concat(secrets.Select(s => s!["env"]!.GetValue<string>())).ToHashSet();
        Assert.All(ConfigKeys.All.Concat(PendingKeys), key => Assert.Contains(EnvName(key), delivered));
    }

    [Fact]
    public void Module_environment_leaves_unused_backends_and_defaults_unset()
    {
        var nix = NixInstantiate();

        var cfg = SampleConfig(storage: "disk", index: "sqlite");
        cfg["publicUrl"] = null;
        cfg["limits"]!["maxNarBytes"] = null;
        var result = EvalJson(nix,
            "settings: cfgJson: let s = import settings; cfg = builtins.fromJSON cfgJson; in { environment = s.environment cfg; secrets = s.secrets cfg; }",
            ("cfgJson", cfg.ToJsonString()));

        var names = result["environment"]!.AsObject().Select(p => p.Key).ToList();
        Assert.DoesNotContain(names, n => n.StartsWith("FLYWHEEL_S3__", StringComparison.Ordinal));
        Assert.DoesNotContain(EnvName(ConfigKeys.PublicUrl), names);
        Assert.DoesNotContain(EnvName(ConfigKeys.MaxNarBytes), names);
        Assert.Contains(EnvName(ConfigKeys.MaxNarInfoBytes), names);
        Assert.Empty(result["secrets"]!.AsArray());
    }

    [Fact]
    public void Module_lanes_become_the_indexed_lanes_section_the_daemon_reads()
    {
        var nix = NixInstantiate();

        var laneKeys = EvalJson(nix, "settings: (import settings).laneKeys").AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(ConfigKeys.LaneKeys.Order(StringComparer.Ordinal), laneKeys.Order(StringComparer.Ordinal));

        var cfg = SampleConfig(storage: "disk", index: "sqlite");
        cfg["builds"]!["lanes"] = new JsonArray(
            new JsonObject { ["name"] = "small", ["memoryBytes"] = 1L << 30, ["cpus"] = 2, ["concurrency"] = 3, ["runnerLabel"] = "runner-small" },
            new JsonObject { ["name"] = "big", ["memoryBytes"] = 16L << 30, ["cpus"] = null, ["concurrency"] = null, ["runnerLabel"] = null });
        var environment = EvalJson(nix, "settings: cfgJson: (import settings).environment (builtins.fromJSON cfgJson)", ("cfgJson", cfg.ToJsonString()))
            .AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());

        Assert.All(ConfigKeys.LaneKeys, key => Assert.Contains(EnvName($"{ConfigKeys.LanesSection}:0:{key}"), environment.Keys));
        Assert.Equal("17179869184", environment[EnvName($"{ConfigKeys.LanesSection}:1:{ConfigKeys.LaneMemoryBytes}")]);
        Assert.DoesNotContain(EnvName($"{ConfigKeys.LanesSection}:1:{ConfigKeys.LaneCpus}"), environment.Keys);

        // what the daemon makes of those variables (FLYWHEEL_A__B is the key A:B)
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(environment.Where(e => e.Key.StartsWith(ConfigKeys.EnvironmentPrefix, StringComparison.Ordinal))
                .Select(e => KeyValuePair.Create(e.Key[ConfigKeys.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)))
            .Build();
        var errors = new List<string>();
        var builds = Flywheel.Cache.Server.BuildHosting.BuildOptions.Load(configuration, errors);
        Assert.Empty(errors);
        Assert.Equal(
            [new Flywheel.Cache.Builds.Lane("small", 2, 1L << 30, 3, "runner-small"), new Flywheel.Cache.Builds.Lane("big", 1, 16L << 30, 1, "big")],
            builds.Lanes);

        cfg["builds"]!["lanes"] = new JsonArray();
        var none = EvalJson(nix, "settings: cfgJson: (import settings).environment (builtins.fromJSON cfgJson)", ("cfgJson", cfg.ToJsonString())).AsObject();
        Assert.DoesNotContain(none, p => p.Key.StartsWith(EnvName(ConfigKeys.LanesSection), StringComparison.Ordinal));
    }

    [Fact]
    public void Module_takes_every_variable_name_from_settings_nix()
    {
        var module = File.ReadAllText(Path.Combine(RepoRoot, "nix", "module.nix"));
        Assert.Contains("import ./settings.nix", module, StringComparison.Ordinal);

        var code = string.Join('\n', module.Split('\n').Where(line => !line.TrimStart().StartsWith('#')));
        var spelled = EnvVarName().Matches(code).Select(m => m.Value).Distinct().ToList();
        Assert.True(spelled.Count == 0,
            $"nix/module.nix spells {string.Join(", ", spelled)} itself; map the key in nix/settings.nix instead, where the tests see it.");
    }

    [Fact]
    public void Settings_nix_reads_only_options_the_module_declares()
    {
        var settings = File.ReadAllText(Path.Combine(RepoRoot, "nix", "settings.nix"));
        var module = File.ReadAllText(Path.Combine(RepoRoot, "nix", "module.nix"));

        var read = CfgAccess().Matches(settings).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(read);
        var undeclared = read
            .Where(path => !Regex.IsMatch(module, $@"(^|\s|\.){Regex.Escape(path.Split('.')[^1])}\s*=\s*(mkOption|mkEnableOption|bytes)\b", RegexOptions.Multiline))
            .ToList();
        Assert.True(undeclared.Count == 0,
            $"nix/settings.nix reads cfg.{string.Join(", cfg.", undeclared)}, not declared as options in nix/module.nix.");
    }

    [Fact]
    public void Deps_json_is_sorted_nuget_to_json_output()
    {
        var deps = ReadDeps();

        Assert.NotEmpty(deps);
        foreach (var dep in deps)
        {
            Assert.Matches("^[A-Za-z0-9_.-]+$", dep.Pname);
            Assert.Matches(@"^[0-9]+(\.[0-9]+){1,3}(-[0-9a-z.-]+)?$", dep.Version);
            Assert.Matches("^sha256-[A-Za-z0-9+/]{43}=$", dep.Hash);
        }

        // nuget-to-json walks the packages folder (lower-case ids, then versions) in C collation.
        var keys = deps.Select(d => (Id: d.Pname.ToLowerInvariant(), d.Version)).ToList();
        var sorted = keys.OrderBy(k => k.Id, StringComparer.Ordinal).ThenBy(k => k.Version, StringComparer.Ordinal).ToList();
        Assert.Equal(sorted, keys);
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Fact]
    public void Deps_json_locks_every_package_the_server_restores()
    {
        var assets = Path.Combine(RepoRoot, "src", "Flywheel.Cache.Server", "obj", "project.assets.json");
        if (!File.Exists(assets))
        {
            var restore = Run("dotnet", ["restore", Path.Combine(RepoRoot, "src", "Flywheel.Cache.Server", "Flywheel.Cache.Server.csproj")],
                TimeSpan.FromMinutes(5));
            Assert.True(restore.ExitCode == 0, $"dotnet restore of the server failed:\n{restore.StandardOutput}\n{restore.StandardError}");
        }

        using var json = JsonDocument.Parse(File.ReadAllText(assets));
        var restored = json.RootElement.GetProperty("libraries").EnumerateObject()
            .Where(library => library.Value.GetProperty("type").GetString() == "package")
            .Select(library => library.Name.ToLowerInvariant())
            .ToList();
        Assert.NotEmpty(restored);

        var locked = ReadDeps().Select(d => $"{d.Pname}/{d.Version}".ToLowerInvariant()).ToHashSet();
        var missing = restored.Where(p => !locked.Contains(p)).ToList();
        Assert.True(missing.Count == 0,
            $"nix/deps.json lacks {string.Join(", ", missing)}; run nix/update-deps.sh and commit nix/deps.json.");
    }

    private static JsonObject SampleConfig(string storage, string index) => new()
    {
        ["enable"] = true,
        ["http"] = "127.0.0.1:8080",
        ["grpc"] = "127.0.0.1:9092",
        ["dataDir"] = "/var/lib/flywheel-cache",
        ["storage"] = storage,
        ["index"] = index,
        ["publicUrl"] = "https://cache.example.org",
        ["s3"] = new JsonObject
        {
            ["endpoint"] = "http://127.0.0.1:4568",
            ["bucket"] = "flywheel",
            ["region"] = "eu-central-1",
            ["prefix"] = "cache/",
            ["pathStyle"] = true,
            ["presignDownloads"] = false,
            ["credentialsFile"] = "/run/secrets/flywheel-s3.env",
        },
        ["postgres"] = new JsonObject { ["connectionStringFile"] = "/run/secrets/flywheel-postgres" },
        ["limits"] = new JsonObject { ["maxNarInfoBytes"] = 65536, ["maxNarBytes"] = 1L << 34, ["maxLogBytes"] = 1 << 26 },
        ["narInfoCache"] = new JsonObject { ["maxBytes"] = 1 << 28, ["ttl"] = "00:05:00", ["negativeTtl"] = "00:00:02" },
        ["api"] = new JsonObject { ["maxBodyBytes"] = 1 << 20 },
        ["bazel"] = new JsonObject { ["defaultInstance"] = "main" },
        ["gc"] = new JsonObject { ["interval"] = "01:00:00", ["orphanGrace"] = "06:00:00" },
        ["disk"] = new JsonObject { ["syncInterval"] = "00:00:00.2" },
        ["promotion"] = new JsonObject { ["flakeHubUrl"] = "https://api.flakehub.com/" },
        ["upstream"] = new JsonObject { ["negativeTtl"] = "00:00:30", ["breakDuration"] = "00:00:30" },
        ["builds"] = new JsonObject { ["workers"] = 1, ["nixConfDir"] = "/etc/flywheel/nix", ["lease"] = "00:01:00", ["workerLiveWindow"] = "00:00:10", ["lanes"] = new JsonArray() },
        ["openFirewall"] = false,
        ["extraEnvironment"] = new JsonObject(),
    };

    private sealed record Dep(string Pname, string Version, string Hash);

    private static List<Dep> ReadDeps()
    {
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoRoot, "nix", "deps.json")));
        var array = Assert.IsType<JsonArray>(node);
        return array.Select(item =>
        {
            var entry = Assert.IsType<JsonObject>(item);
            var extra = entry.Select(p => p.Key).Except(["pname", "version", "hash", "url"]).ToList();
            Assert.True(extra.Count == 0, $"unexpected fields in a deps.json entry: {string.Join(", ", extra)}");
            return new Dep(
                entry["pname"]!.GetValue<string>(),
                entry["version"]!.GetValue<string>(),
                entry["hash"]!.GetValue<string>());
        }).ToList();
    }

    /// <summary><c>Limits:MaxNarInfoBytes</c> → <c>FLYWHEEL_LIMITS__MAXNARINFOBYTES</c>.</summary>
    private static string EnvName(string key) =>
        ConfigKeys.EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant();

    /// <summary>
    /// Evaluates <paramref name="function"/>, a Nix function of <c>settings</c> (the path of nix/settings.nix)
    /// and the given string arguments, strictly and as JSON. Arguments go through --argstr, never into the expression.
    /// </summary>
    private JsonNode EvalJson(string nix, string function, params (string Name, string Value)[] args)
    {
        var formals = string.Join(", ", new[] { "settings" }.Concat(args.Select(a => a.Name)));
        var expression = $"{{ {formals} }}: ({function}) {string.Join(' ', new[] { "settings" }.Concat(args.Select(a => a.Name)))}";
        List<string> arguments = ["--store", "dummy://", "--eval", "--strict", "--json", "--expr", expression,
            "--argstr", "settings", Path.Combine(RepoRoot, "nix", "settings.nix")];
        foreach (var (name, value) in args)
        {
            arguments.AddRange(["--argstr", name, value]);
        }

        var result = Run(nix, arguments);
        Assert.True(result.ExitCode == 0, $"nix-instantiate --eval failed:\n{result.StandardError}");
        output.WriteLine(result.StandardOutput);
        return JsonNode.Parse(result.StandardOutput)!;
    }

    /// <summary>The path of nix-instantiate; without it the test fails (<see cref="RequiredComponent"/>).</summary>
    private static string NixInstantiate() => RequiredComponent.Program("nix-instantiate", "nix-bin");

    private static ProcessResult Run(string fileName, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var result = TestProcess.RunAsync(fileName, arguments, timeout: timeout ?? ProcessTimeout, workingDirectory: RepoRoot).GetAwaiter().GetResult();
        Assert.False(result.TimedOut, result.Describe("did not finish in time"));
        return result;
    }

    private static IEnumerable<string> EnumerateNixFiles(string root)
    {
        var skip = new HashSet<string>(StringComparer.Ordinal) { ".git", "bin", "obj", "node_modules", "TestResults", ".flywheel", ".test-env" };
        var pending = new Stack<string>([root]);
        while (pending.Count > 0)
        {
            var folder = pending.Pop();
            foreach (var file in Directory.EnumerateFiles(folder, "*.nix"))
            {
                yield return file;
            }

            foreach (var child in Directory.EnumerateDirectories(folder))
            {
                if (!skip.Contains(Path.GetFileName(child)))
                {
                    pending.Push(child);
                }
            }
        }
    }

    [GeneratedRegex("FLYWHEEL_[A-Z0-9][A-Z0-9_]*")]
    private static partial Regex EnvVarName();

    [GeneratedRegex(@"\bcfg\.([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)")]
    private static partial Regex CfgAccess();
}
