using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// An OIDC issuer on a loopback port, as GitHub Actions' is seen by a relying party: a discovery document
/// (<c>/.well-known/openid-configuration</c>) naming a JWKS, and ID tokens shaped like GitHub's (the same claim names).
/// Keys are generated per run: an RSA key (RS256) and a P-256 key (ES256); <see cref="RotateAsync"/> publishes a new
/// RSA key. Counts the JWKS fetches, so tests can see when the gateway fetched keys.
/// </summary>
public sealed class TestOidcIssuer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<SecurityKey> _published = [];
    private int _jwksFetches;
    private int _discoveryFetches;

    private TestOidcIssuer(WebApplication app)
    {
        _app = app;
        Rsa = NewRsa("rsa-1");
        Ec = NewEc("ec-1");
        _published.Add(Rsa);
        _published.Add(Ec);
    }

    /// <summary>The issuer URL (no trailing slash), what tokens carry as <c>iss</c>.</summary>
    public string Issuer { get; private set; } = "";

    public RsaSecurityKey Rsa { get; private set; }

    public ECDsaSecurityKey Ec { get; }

    public int JwksFetches => Volatile.Read(ref _jwksFetches);

    public int DiscoveryFetches => Volatile.Read(ref _discoveryFetches);

    public static async Task<TestOidcIssuer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var issuer = new TestOidcIssuer(app);
        app.MapGet("/.well-known/openid-configuration", (HttpContext context) =>
        {
            Interlocked.Increment(ref issuer._discoveryFetches);
            return Results.Json(new Dictionary<string, object>
            {
                ["issuer"] = issuer.Issuer,
                ["jwks_uri"] = issuer.Issuer + "/.well-known/jwks",
                ["subject_types_supported"] = new[] { "public", "pairwise" },
                ["response_types_supported"] = new[] { "id_token" },
                ["claims_supported"] = new[] { "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_owner", "run_id", "workflow" },
                ["id_token_signing_alg_values_supported"] = new[] { "RS256", "ES256" },
                ["scopes_supported"] = new[] { "openid" },
            });
        });
        app.MapGet("/.well-known/jwks", () =>
        {
            Interlocked.Increment(ref issuer._jwksFetches);
            lock (issuer._published)
            {
                return Results.Json(new { keys = issuer._published.Select(Jwk).ToList() });
            }
        });
        await app.StartAsync();
        issuer.Issuer = app.Urls.First().TrimEnd('/');
        return issuer;
    }

    /// <summary>Publishes a new RSA key (kid <paramref name="kid"/>) beside the old ones, and signs RS256 tokens with it from now on.</summary>
    public RsaSecurityKey Rotate(string kid)
    {
        var key = NewRsa(kid);
        lock (_published)
        {
            _published.Add(key);
        }

        Rsa = key;
        return key;
    }

    /// <summary>A key of the issuer's kind that it never publishes.</summary>
    public static RsaSecurityKey Unpublished(string kid) => NewRsa(kid);

    /// <summary>The claims GitHub Actions puts in an ID token for a push to main of tinyland-inc/app.</summary>
    public static Dictionary<string, object> GitHubClaims(string repository = "tinyland-inc/app", string @ref = "refs/heads/main", string sha = "0123456789abcdef0123456789abcdef01234567") => new()
    {
        ["sub"] = $"repo:{repository}:ref:{@ref}",
        ["repository"] = repository,
        ["repository_owner"] = repository.Split('/')[0],
        ["repository_id"] = "123456789",
        ["ref"] = @ref,
        ["ref_type"] = "branch",
        ["sha"] = sha,
        ["workflow"] = "ci",
        ["job_workflow_ref"] = $"{repository}/.github/workflows/ci.yml@{@ref}",
        ["run_id"] = "7777777777",
        ["run_number"] = "42",
        ["run_attempt"] = "1",
        ["actor"] = "octocat",
        ["event_name"] = "push",
        ["runner_environment"] = "github-hosted",
    };

    /// <summary>A signed ID token; <paramref name="claims"/> default to <see cref="GitHubClaims"/>; key default: the current RSA key.</summary>
    public string Token(
        string audience = "flywheel", IDictionary<string, object>? claims = null, SecurityKey? key = null, string? algorithm = null,
        TimeSpan? expiresIn = null, TimeSpan? notBefore = null, string? issuer = null)
    {
        var now = DateTime.UtcNow;
        key ??= Rsa;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            IssuedAt = now.AddSeconds(-5),
            NotBefore = now + (notBefore ?? TimeSpan.FromSeconds(-5)),
            Expires = now + (expiresIn ?? TimeSpan.FromMinutes(10)),
            Claims = claims ?? GitHubClaims(),
            SigningCredentials = new SigningCredentials(key, algorithm ?? (key is ECDsaSecurityKey ? SecurityAlgorithms.EcdsaSha256 : SecurityAlgorithms.RsaSha256)),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    /// <summary>An unsigned token (<c>alg: none</c>) with valid-looking claims.</summary>
    public string UnsignedToken()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = new Dictionary<string, object>(GitHubClaims()) { ["iss"] = Issuer, ["aud"] = "flywheel", ["iat"] = now, ["nbf"] = now - 5, ["exp"] = now + 600 };
        return Base64Url(JsonSerializer.SerializeToUtf8Bytes(new { alg = "none", typ = "JWT", kid = Rsa.KeyId })) + "."
            + Base64Url(JsonSerializer.SerializeToUtf8Bytes(payload)) + ".";
    }

    /// <summary>The classic confusion attack: HS256 with the issuer's public RSA key (as published) as the HMAC secret.</summary>
    public string HmacWithPublicKeyToken()
    {
        var publicKey = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Jwk(Rsa)));
        var key = new SymmetricSecurityKey(publicKey) { KeyId = Rsa.KeyId };
        return Token(key: key, algorithm: SecurityAlgorithms.HmacSha256);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static RsaSecurityKey NewRsa(string kid) => new(RSA.Create(2048)) { KeyId = kid };

    private static ECDsaSecurityKey NewEc(string kid) => new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = kid };

    private static Dictionary<string, string> Jwk(SecurityKey key)
    {
        switch (key)
        {
            case RsaSecurityKey rsa:
                var p = rsa.Rsa.ExportParameters(false);
                return new() { ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = rsa.KeyId, ["n"] = Base64Url(p.Modulus!), ["e"] = Base64Url(p.Exponent!) };
            case ECDsaSecurityKey ec:
                var q = ec.ECDsa.ExportParameters(false).Q;
                return new() { ["kty"] = "EC", ["use"] = "sig", ["alg"] = "ES256", ["crv"] = "P-256", ["kid"] = ec.KeyId, ["x"] = Base64Url(q.X!), ["y"] = Base64Url(q.Y!) };
            default:
                throw new ArgumentException("an RSA or EC key", nameof(key));
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
