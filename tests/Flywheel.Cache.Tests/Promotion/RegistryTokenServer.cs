using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// A token server for a registry with distribution's token auth (<c>auth: token: {realm, service, issuer,
/// rootcertbundle}</c>): GET <c>/token?service=…&amp;scope=…</c> with Basic credentials answers
/// <c>{"token": JWT}</c>, a JWT (ES256) whose header carries the signing certificate as <c>x5c</c> (distribution
/// verifies it up to the root bundle: here the certificate is its own root) and whose claims distribution checks:
/// <c>iss</c>, <c>aud</c> = the service, <c>exp</c>/<c>nbf</c>, and <c>access</c> = the scopes asked for. Wrong
/// credentials: 401.
/// </summary>
internal sealed class RegistryTokenServer : IAsyncDisposable
{
    public const string Service = "flywheel-test-registry";
    public const string Issuer = "flywheel-test-token-issuer";

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly string _certificate;
    private readonly string _user;
    private readonly string _password;
    private TestHttpServer _server = null!;

    private RegistryTokenServer(string user, string password, string folder)
    {
        _user = user;
        _password = password;
        var request = new CertificateRequest("CN=flywheel test token issuer", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        _certificate = Convert.ToBase64String(certificate.RawData);
        RootCertBundle = Path.Combine(folder, "token-root.pem");
        File.WriteAllText(RootCertBundle, certificate.ExportCertificatePem());
    }

    /// <summary>The PEM file the registry trusts (its <c>rootcertbundle</c>).</summary>
    public string RootCertBundle { get; }

    public Uri Realm => new(_server.Address, "token");

    public List<string> Requests => _server.Requests;

    /// <summary>The registry's <c>auth:</c> configuration for this server.</summary>
    public string RegistryConfig => $"""
        auth:
          token:
            realm: {Realm}
            service: {Service}
            issuer: {Issuer}
            rootcertbundle: {RootCertBundle}

        """;

    public static async Task<RegistryTokenServer> StartAsync(string user, string password, string folder)
    {
        var server = new RegistryTokenServer(user, password, folder);
        server._server = await TestHttpServer.StartAsync(server.HandleAsync);
        return server;
    }

    private async Task HandleAsync(HttpContext context, TestHttpServer server)
    {
        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_user}:{_password}"));
        if (context.Request.Path != "/token" || context.Request.Query["service"] != Service || context.Request.Headers.Authorization.ToString() != expected)
        {
            context.Response.StatusCode = 401;
            await context.Response.WriteAsJsonAsync(new { details = "wrong credentials" });
            return;
        }

        var access = new JsonArray();
        foreach (var scope in context.Request.Query["scope"])
        {
            // repository:NAME:ACTION[,ACTION…] (NAME may hold ':' for a port in other forms; not here)
            var parts = scope!.Split(':');
            access.Add(new JsonObject
            {
                ["type"] = parts[0],
                ["name"] = string.Join(':', parts[1..^1]),
                ["actions"] = new JsonArray(parts[^1].Split(',').Select(a => (JsonNode)JsonValue.Create(a)).ToArray()),
            });
        }

        await context.Response.WriteAsJsonAsync(new { token = Jwt(access) });
    }

    private string Jwt(JsonArray access)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "ES256", ["x5c"] = new JsonArray(_certificate) };
        var claims = new JsonObject
        {
            ["iss"] = Issuer,
            ["sub"] = _user,
            ["aud"] = Service,
            ["exp"] = now + 300,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        var signed = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return signed + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _key.Dispose();
    }
}
