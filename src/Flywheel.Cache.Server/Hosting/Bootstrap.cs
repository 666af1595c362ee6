using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Server.Hosting;

/// <summary>
/// What the first start on an empty backend does: migrate the index, create the cache <c>main</c> (public
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

    public Bootstrap(IMetadataIndex index, CacheCatalog catalog, TokenService tokens, ServerOptions options, ILogger<Bootstrap> logger)
    {
        _index = index;
        _catalog = catalog;
        _tokens = tokens;
        _options = options;
        _logger = logger;
    }

    public string AdminTokenPath => Path.Combine(_options.DataDirectory, AdminTokenFile);

    public async Task<CacheRecord> RunAsync(CancellationToken cancellationToken)
    {
        await _index.MigrateAsync(cancellationToken);
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
