using System.Globalization;
using System.Net;
using Flywheel.Cache.Maintenance;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// The daemon's settings, read from configuration (see <see cref="ConfigKeys"/>) and validated at start:
/// every bad value is reported with its key, what was given and what is expected.
/// </summary>
public sealed record ServerOptions
{
    public required IPEndPoint Http { get; init; }
    public required IPEndPoint Grpc { get; init; }
    public required string DataDirectory { get; init; }
    public required string Storage { get; init; }
    public required string Index { get; init; }
    public required Uri PublicUrl { get; init; }
    public required NixCacheLimits Limits { get; init; }

    /// <summary>The largest JSON body an API route reads (<see cref="ConfigKeys.ApiMaxBodyBytes"/>).</summary>
    public long ApiMaxBodyBytes { get; init; } = DefaultApiMaxBodyBytes;

    public const long DefaultApiMaxBodyBytes = 1024 * 1024;
    public required long NarInfoCacheBytes { get; init; }
    public required TimeSpan NarInfoTtl { get; init; }

    public required TimeSpan NarInfoNegativeTtl { get; init; }
    public required string BazelDefaultInstance { get; init; }

    /// <summary>The FlakeHub API the promotion gate publishes clean derivations through.</summary>
    public required Uri FlakeHubUrl { get; init; }

    /// <summary>The S3 settings when <see cref="Storage"/> is s3, else null.</summary>
    public Flywheel.Cache.Storage.S3.S3BlobStoreOptions? S3 { get; init; }

    public required GcOptions Gc { get; init; }

    /// <summary>The disk store's background fsync rounds (<see cref="ConfigKeys.DiskSyncInterval"/>).</summary>
    public Flywheel.Cache.Storage.Disk.DiskSyncOptions DiskSync { get; init; } = Flywheel.Cache.Storage.Disk.DiskSyncOptions.Default;

    public required Flywheel.Cache.Upstream.UpstreamOptions Upstream { get; init; }
    /// <summary>Build orchestration: lanes and in-process workers.</summary>
    public BuildHosting.BuildOptions Builds { get; init; } = new(Flywheel.Cache.Builds.Lane.Defaults, null, null, BuildHosting.BuildOptions.DefaultLease);

    /// <summary>The PostgreSQL connection string when <see cref="Index"/> is postgres, else null.</summary>
    public string? PostgresConnectionString { get; init; }

    public static ServerOptions Load(IConfiguration configuration)
    {
        var errors = new List<string>();
        var http = Endpoint(configuration, ConfigKeys.Http, "127.0.0.1:8080", errors);
        var grpc = Endpoint(configuration, ConfigKeys.Grpc, "127.0.0.1:9092", errors);
        var data = Path.GetFullPath(configuration[ConfigKeys.Data] is { Length: > 0 } d ? d : ".flywheel");
        var storage = OneOf(configuration, ConfigKeys.Storage, "disk", ["disk", "s3"], errors);
        var index = OneOf(configuration, ConfigKeys.Index, "sqlite", ["sqlite", "postgres"], errors);
        var s3 = storage == "s3" ? S3Settings.Load(configuration, errors) : null;
        var postgres = configuration[ConfigKeys.Postgres];
        if (index == "postgres" && string.IsNullOrWhiteSpace(postgres))
        {
            errors.Add($"{ConfigKeys.Postgres}: --index postgres needs a connection string (--postgres or FLYWHEEL_POSTGRES), e.g. Host=db;Username=flywheel;Password=…;Database=flywheel");
        }
        var defaults = NixCacheLimits.Default;
        var limits = new NixCacheLimits(
            Size(configuration, ConfigKeys.MaxNarInfoBytes, defaults.MaxNarInfoBytes, errors),
            Size(configuration, ConfigKeys.MaxNarBytes, defaults.MaxNarBytes, errors),
            Size(configuration, ConfigKeys.MaxLogBytes, defaults.MaxFileBytes, errors));
        var apiMaxBodyBytes = Size(configuration, ConfigKeys.ApiMaxBodyBytes, DefaultApiMaxBodyBytes, errors);
        var narInfoCacheBytes = Size(configuration, ConfigKeys.NarInfoCacheBytes, 64L * 1024 * 1024, errors, allowZero: true);
        var narInfoTtl = Duration(configuration, ConfigKeys.NarInfoTtl, TimeSpan.FromMinutes(5), errors);
        var negativeTtl = Duration(configuration, ConfigKeys.NarInfoNegativeTtl, TimeSpan.FromSeconds(2), errors);
        var gc = new GcOptions(
            Duration(configuration, ConfigKeys.GcInterval, GcOptions.Default.Interval, errors),
            Duration(configuration, ConfigKeys.GcOrphanGrace, GcOptions.Default.OrphanGrace, errors));
        var diskSync = Flywheel.Cache.Storage.Disk.DiskSyncOptions.Default with
        {
            Interval = Duration(configuration, ConfigKeys.DiskSyncInterval, Flywheel.Cache.Storage.Disk.DiskSyncOptions.Default.Interval, errors),
        };
        if (diskSync.Interval <= TimeSpan.Zero)
        {
            errors.Add($"{ConfigKeys.DiskSyncInterval}: '{diskSync.Interval}' must be more than 0");
        }

        var upstreamDefaults = Flywheel.Cache.Upstream.UpstreamOptions.Default;
        var upstream = upstreamDefaults with
        {
            NegativeTtl = Duration(configuration, ConfigKeys.UpstreamNegativeTtl, upstreamDefaults.NegativeTtl, errors),
            BreakDuration = Duration(configuration, ConfigKeys.UpstreamBreakDuration, upstreamDefaults.BreakDuration, errors),
        };
        if (upstream.BreakDuration < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{ConfigKeys.UpstreamBreakDuration}: '{upstream.BreakDuration}' is too short; at least 00:00:01");
        }

        var builds = Flywheel.Cache.Server.BuildHosting.BuildOptions.Load(configuration, errors);
        var bazelDefaultInstance = configuration[ConfigKeys.BazelDefaultInstance] is { Length: > 0 } instance ? instance : "main";
        if (!Flywheel.Cache.Caches.CacheNames.IsValid(bazelDefaultInstance))
        {
            errors.Add($"{ConfigKeys.BazelDefaultInstance}: '{bazelDefaultInstance}' is not a valid cache name");
        }

        var flakeHubText = configuration[ConfigKeys.FlakeHubUrl] is { Length: > 0 } f ? f : "https://api.flakehub.com/";
        if (!Uri.TryCreate(flakeHubText.TrimEnd('/') + "/", UriKind.Absolute, out var flakeHubUrl) || flakeHubUrl.Scheme is not ("http" or "https"))
        {
            errors.Add($"{ConfigKeys.FlakeHubUrl}: '{flakeHubText}' is not an http(s) URL");
        }

        Uri? publicUrl = null;
        var publicText = configuration[ConfigKeys.PublicUrl];
        if (string.IsNullOrEmpty(publicText))
        {
            var host = http?.Address switch
            {
                null => "127.0.0.1",
                var a when a.Equals(IPAddress.Any) => Environment.MachineName,
                var a when a.Equals(IPAddress.IPv6Any) => Environment.MachineName,
                var a when a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 => $"[{a}]",
                var a => a.ToString(),
            };
            publicUrl = new Uri($"http://{host}:{http?.Port ?? 8080}");
        }
        else if (!Uri.TryCreate(publicText.TrimEnd('/'), UriKind.Absolute, out publicUrl) || publicUrl.Scheme is not ("http" or "https"))
        {
            errors.Add($"{ConfigKeys.PublicUrl}: '{publicText}' is not an http(s) URL");
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid configuration:\n  " + string.Join("\n  ", errors));
        }

        return new ServerOptions
        {
            Http = http!,
            Grpc = grpc!,
            DataDirectory = data,
            Storage = storage,
            Index = index,
            PublicUrl = publicUrl!,
            Limits = limits,
            ApiMaxBodyBytes = apiMaxBodyBytes,
            NarInfoCacheBytes = narInfoCacheBytes,
            NarInfoTtl = narInfoTtl,
            NarInfoNegativeTtl = negativeTtl,
            BazelDefaultInstance = bazelDefaultInstance,
            FlakeHubUrl = flakeHubUrl!,
            S3 = s3,
            Gc = gc,
            DiskSync = diskSync,
            Upstream = upstream,
            Builds = builds,
            PostgresConnectionString = index == "postgres" ? postgres : null,
        };
    }

    /// <summary>Parses <c>host:port</c>, <c>[v6]:port</c>, <c>*:port</c> or <c>localhost:port</c>.</summary>
    public static bool TryParseEndpoint(string text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            return false;
        }

        var host = text[..colon].Trim('[', ']');
        IPAddress? address = host switch
        {
            "*" or "0.0.0.0" => IPAddress.Any,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var a) ? a : null,
        };
        if (address is null)
        {
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }

    private static IPEndPoint? Endpoint(IConfiguration c, string key, string fallback, List<string> errors)
    {
        var text = c[key] is { Length: > 0 } v ? v : fallback;
        if (TryParseEndpoint(text, out var endpoint))
        {
            return endpoint;
        }

        errors.Add($"{key}: '{text}' is not a listen address; write HOST:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080");
        return null;
    }

    private static string OneOf(IConfiguration c, string key, string fallback, string[] allowed, List<string> errors)
    {
        var text = (c[key] is { Length: > 0 } v ? v : fallback).ToLowerInvariant();
        if (!allowed.Contains(text))
        {
            errors.Add($"{key}: '{text}' is not supported; use {string.Join(" or ", allowed)}");
        }

        return text;
    }

    private static long Size(IConfiguration c, string key, long fallback, List<string> errors, bool allowZero = false)
    {
        var text = c[key];
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && (n > 0 || (allowZero && n == 0)))
        {
            return n;
        }

        errors.Add($"{key}: '{text}' is not a {(allowZero ? "non-negative" : "positive")} number of bytes");
        return fallback;
    }

    internal static TimeSpan Duration(IConfiguration c, string key, TimeSpan fallback, List<string> errors)
    {
        var text = c[key];
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero)
        {
            return span;
        }

        errors.Add($"{key}: '{text}' is not a duration; write hh:mm:ss, e.g. 00:00:02");
        return fallback;
    }
}
