using System.Collections.Concurrent;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Flywheel.Cache.Server.Auth.Oidc;

/// <summary>
/// The signing keys of the OIDC issuers trust policies name, one <see cref="ConfigurationManager{T}"/> per issuer:
/// its discovery document (<c>/.well-known/openid-configuration</c>) and JWKS, cached for
/// <see cref="AutomaticRefreshInterval"/>, fetched again when a token names a key not in them (at most once per
/// <see cref="RefreshInterval"/>, so a flood of made-up key ids cannot make us hammer the issuer). Callers ask only
/// for issuers some policy names: a token's own <c>iss</c> never makes the server fetch anything.
/// </summary>
public sealed class OidcIssuers : IDisposable
{
    public static readonly TimeSpan AutomaticRefreshInterval = TimeSpan.FromHours(1);
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, ConfigurationManager<OpenIdConnectConfiguration>> _managers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastRefresh = new(StringComparer.Ordinal);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly TimeProvider _time;

    public OidcIssuers(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>How long an exchange waits for keys fetched again on an unknown kid.</summary>
    public static TimeSpan RefreshWait { get; } = TimeSpan.FromSeconds(5);

    /// <summary>The issuer's signing keys; throws <see cref="CacheError.Unavailable"/> when they were never fetched and cannot be now.</summary>
    public async Task<ICollection<SecurityKey>> GetKeysAsync(string issuer, CancellationToken cancellationToken)
    {
        var manager = _managers.GetOrAdd(issuer, Create);
        try
        {
            var configuration = await manager.GetConfigurationAsync(cancellationToken).ConfigureAwait(false);
            return configuration.SigningKeys;
        }
        catch (InvalidOperationException e)
        {
            throw new CacheException(CacheError.Unavailable, $"the keys of issuer {issuer} cannot be fetched now; try again later", e);
        }
    }

    /// <summary>
    /// The issuer's keys fetched again, when the last refresh was at least <see cref="RefreshInterval"/> ago (else the
    /// keys as they are): the manager fetches in the background, so this waits up to <see cref="RefreshWait"/> for the
    /// new configuration. An issuer that cannot be reached keeps its last keys.
    /// </summary>
    public async Task<ICollection<SecurityKey>> RefreshKeysAsync(string issuer, CancellationToken cancellationToken)
    {
        var manager = _managers.GetOrAdd(issuer, Create);
        var before = await manager.GetConfigurationAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var claimed = _lastRefresh.TryGetValue(issuer, out var last)
            ? now - last >= RefreshInterval && _lastRefresh.TryUpdate(issuer, now, last)
            : _lastRefresh.TryAdd(issuer, now);
        if (!claimed)
        {
            return before.SigningKeys; // rate-limited (or another request is refreshing right now)
        }

        manager.RequestRefresh();
        var deadline = now + RefreshWait;
        while (true)
        {
            var current = await manager.GetConfigurationAsync(cancellationToken).ConfigureAwait(false);
            if (!ReferenceEquals(current, before) || _time.GetUtcNow() >= deadline)
            {
                return current.SigningKeys;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private ConfigurationManager<OpenIdConnectConfiguration> Create(string issuer) =>
        new(issuer + "/.well-known/openid-configuration", new OpenIdConnectConfigurationRetriever(),
            new HttpDocumentRetriever(_http) { RequireHttps = issuer.StartsWith("https://", StringComparison.Ordinal) })
        {
            AutomaticRefreshInterval = AutomaticRefreshInterval,
            RefreshInterval = RefreshInterval,
        };

    public void Dispose() => _http.Dispose();
}
