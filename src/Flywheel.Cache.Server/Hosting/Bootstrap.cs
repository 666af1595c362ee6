using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Storage;
using Flywheel.Cache.Storage.Disk;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// What every start does before serving: migrate the index and, when the disk store was not stopped cleanly, drop the
/// index rows of blobs that did not survive (<see cref="DiskRecovery"/>). What the first start on an empty backend
/// does besides: create the cache <c>main</c> (public
/// read, push needs a token) with a fresh signing key, and issue an admin token written to
/// <c>&lt;data&gt;/admin.token</c> (mode 0600). Later starts, and other replicas on the same backend, reuse them.
/// </summary>
public sealed class Bootstrap
{
    public const string DefaultCache = "main";
    public const string AdminTokenSetting = "bootstrap.admin-token";
    public const string AdminTokenFile = "admin.token";

    private readonly IMetadataIndex _index;
    private readonly CacheCatalog _catalog;
    private readonly TokenService _tokens;
    private readonly ServerOptions _options;
    private readonly ILogger<Bootstrap> _logger;
    private readonly IBlobStore _blobs;
    private readonly FlywheelMetrics _metrics;

    public Bootstrap(
        IMetadataIndex index, IBlobStore blobs, CacheCatalog catalog, TokenService tokens, ServerOptions options, FlywheelMetrics metrics, ILogger<Bootstrap> logger)
    {
        _index = index;
        _blobs = blobs;
        _metrics = metrics;
        _catalog = catalog;
        _tokens = tokens;
        _options = options;
        _logger = logger;
    }

    public string AdminTokenPath => Path.Combine(_options.DataDirectory, AdminTokenFile);

    public async Task<CacheRecord> RunAsync(CancellationToken cancellationToken)
    {
        await _index.MigrateAsync(cancellationToken);
        await RecoverDiskStoreAsync(cancellationToken);
        var main = await _catalog.FindAsync(DefaultCache, cancellationToken);
        if (main is null)
        {
            try
            {
                main = await _catalog.CreateAsync(DefaultCache, isPublic: true, priority: 40, cancellationToken);
                _logger.LogInformation("created cache {Cache} with signing key {PublicKey}", DefaultCache, main.Record.PublicKey);
            }
            catch (CacheException e) when (e.Error == CacheError.Conflict)
            {
                // another replica created it at the same moment
                main = await _catalog.ReloadAsync(DefaultCache, cancellationToken)
                    ?? throw new InvalidOperationException($"cache {DefaultCache} was reported to exist but cannot be read", e);
            }
        }

        if (await _index.TryAddSettingAsync(AdminTokenSetting, "issuing", cancellationToken))
        {
            var (token, secret) = await _tokens.CreateAsync("*", TokenScopes.Pull | TokenScopes.Push | TokenScopes.Admin | TokenScopes.Promote, null, "bootstrap admin token", cancellationToken);
            Directory.CreateDirectory(_options.DataDirectory);
            await WriteSecretFileAsync(AdminTokenPath, secret + "\n", cancellationToken);
            _logger.LogInformation("issued admin token {Id}, written to {Path}", token.Id, AdminTokenPath);
        }

        return main.Record;
    }

    private async Task RecoverDiskStoreAsync(CancellationToken cancellationToken)
    {
        if ((_blobs is MeteredBlobStore metered ? metered.Inner : _blobs) is not DiskBlobStore disk)
        {
            return;
        }

        disk.SyncFailed += (error, blobs) =>
        {
            _logger.LogError(error, "a background fsync round of {Blobs} blobs failed; the durable-through horizon stays where it was until a restart", blobs);
            _metrics.DiskSyncFailures.Inc();
        };

        var report = await DiskRecovery.RunAsync(disk, _index, cancellationToken);
        if (!report.Needed)
        {
            return;
        }

        foreach (var blob in report.Dropped)
        {
            _logger.LogWarning(
                "blob {Digest} ({Size} bytes, recorded {CreatedAt:O}) did not survive the unclean stop: {Reason}; dropped its {Rows} index rows and its file",
                blob.Digest.ToHex(), blob.Size, blob.CreatedAt, blob.Reason, blob.RowsRemoved);
            _metrics.RecoveryDroppedBlobs.Inc();
        }

        _logger.LogInformation(
            "the blob store was not stopped cleanly: checked the {Checked} blobs recorded since {Since:O}, dropped {Dropped}",
            report.Checked, report.Since, report.Dropped.Count);
    }

    /// <summary>Writes a file only its owner may read or write (it holds a secret), also when it existed.</summary>
    internal static async Task WriteSecretFileAsync(string path, string content, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var stream = new FileStream(path, options))
        await using (var writer = new StreamWriter(stream))
        {
            await writer.WriteAsync(content.AsMemory(), cancellationToken);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // also when the file existed
        }
    }
}
