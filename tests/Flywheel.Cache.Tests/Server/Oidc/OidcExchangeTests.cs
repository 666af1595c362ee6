using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Flywheel.Cache.Index.Trust;
using Flywheel.Cache.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Flywheel.Cache.Tests.Server.Oidc;

/// <summary>
/// <c>POST /_api/v1/auth/oidc</c> against a real daemon and an OIDC issuer on loopback (keys generated per run):
/// GitHub-shaped ID tokens are exchanged for flywheel tokens when a trust policy matches, and each check that fails
/// is a 401 naming it, never echoing the token.
/// </summary>
public sealed class OidcExchangeTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public OidcExchangeTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task A_GitHub_shaped_token_that_matches_a_policy_gets_a_token_that_pushes_and_is_recorded_with_its_identity()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer, "repository=tinyland-inc/*", "ref=refs/heads/main");
        var jwt = issuer.Token();

        using var response = await ExchangeAsync(jwt, cache);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var token = answer.RootElement.GetProperty("token").GetString()!;
        Assert.StartsWith("fw1_", token);
        Assert.Equal(cache, answer.RootElement.GetProperty("cache").GetString());
        Assert.Equal(["pull", "push", "promote"], answer.RootElement.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        var expiresAt = answer.RootElement.GetProperty("expiresAt").GetDateTimeOffset();
        Assert.InRange(expiresAt, DateTimeOffset.UtcNow.AddMinutes(9), DateTimeOffset.UtcNow.AddMinutes(11)); // the JWT's exp (10 min) caps the 1h ttl

        using var client = _daemon.CreateClient(token);
        var blob = "pushed with a minted token"u8.ToArray();
        using (var put = await client.PutAsync($"/{cache}/cas/{Convert.ToHexStringLower(SHA256.HashData(blob))}", new ByteArrayContent(blob)))
        {
            Assert.True(put.IsSuccessStatusCode, $"PUT with the minted token: {(int)put.StatusCode}");
        }

        using (var show = await client.GetAsync($"/_api/v1/caches/{cache}"))
        {
            Assert.Equal(HttpStatusCode.OK, show.StatusCode);
        }

        var id = (await ListTokensAsync()).Single(t => t.GetProperty("cache").GetString() == cache).GetProperty("id").GetString()!;
        var identity = await _daemon.Services.GetRequiredService<ITrustStore>().GetTokenIdentityAsync(id, CancellationToken.None);
        Assert.NotNull(identity);
        Assert.Equal(issuer.Issuer, identity.Issuer);
        Assert.Equal("repo:tinyland-inc/app:ref:refs/heads/main", identity.Subject);
        Assert.Equal("tinyland-inc/app", identity.Claims["repository"]);
        Assert.Equal("0123456789abcdef0123456789abcdef01234567", identity.Claims["sha"]);
        Assert.Equal("7777777777", identity.Claims["run_id"]);
        Assert.False(identity.Claims.ContainsKey("actor")); // only the source claims and the matched ones are kept
    }

    [Fact]
    public async Task An_ES256_token_is_accepted_and_the_policy_ttl_caps_a_longer_lived_jwt()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheWithTtlAsync(issuer, "5m", "repository=tinyland-inc/app");

        using var response = await ExchangeAsync(issuer.Token(key: issuer.Ec, expiresIn: TimeSpan.FromHours(2)), cache);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.InRange(answer.RootElement.GetProperty("expiresAt").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(4), DateTimeOffset.UtcNow.AddMinutes(6));
    }

    public static TheoryData<string, string> Refusals() => new()
    {
        { "expired", "expired" },
        { "not-yet-valid", "not yet valid" },
        { "wrong-audience", "wrong audience" },
        { "wrong-issuer", "wrong issuer" },
        { "unknown-key", "unknown key" },
        { "bad-signature", "bad signature" },
        { "alg-none", "alg none" },
        { "hs256-public-key", "'HS256' is refused" },
        { "claim-mismatch", "no trust policy's claims match" },
        { "no-policy-for-cache", "no trust policy's claims match" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Each_failed_check_is_a_401_that_names_it_and_never_echoes_the_token(string check, string reason)
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer, "repository=tinyland-inc/*", "ref=refs/heads/main");
        var jwt = check switch
        {
            "expired" => issuer.Token(expiresIn: TimeSpan.FromMinutes(-5), notBefore: TimeSpan.FromMinutes(-15)),
            "not-yet-valid" => issuer.Token(notBefore: TimeSpan.FromMinutes(5)),
            "wrong-audience" => issuer.Token(audience: "someone-else"),
            "wrong-issuer" => issuer.Token(issuer: "https://token.actions.example.org"),
            "unknown-key" => issuer.Token(key: TestOidcIssuer.Unpublished("stolen-1")),
            "bad-signature" => Tamper(issuer.Token()),
            "alg-none" => issuer.UnsignedToken(),
            "hs256-public-key" => issuer.HmacWithPublicKeyToken(),
            "claim-mismatch" => issuer.Token(claims: TestOidcIssuer.GitHubClaims(@ref: "refs/heads/feature")),
            "no-policy-for-cache" => issuer.Token(),
            _ => throw new ArgumentOutOfRangeException(nameof(check)),
        };

        using var response = await ExchangeAsync(jwt, check == "no-policy-for-cache" ? "some-other-cache" : cache);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains(reason, Detail(body));
        Assert.DoesNotContain(jwt.Split('.')[1], body);
        Assert.DoesNotContain(await ListTokensAsync(), t => t.GetProperty("cache").GetString() == cache);
    }

    [Fact]
    public async Task A_token_from_an_issuer_no_policy_names_is_refused_without_fetching_anything_from_it()
    {
        await using var trusted = await TestOidcIssuer.StartAsync();
        await using var stranger = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(trusted);

        using var response = await ExchangeAsync(stranger.Token(), cache);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("wrong issuer", Detail(await response.Content.ReadAsStringAsync()));
        Assert.Equal((0, 0), (stranger.DiscoveryFetches, stranger.JwksFetches));
    }

    [Fact]
    public async Task A_rotated_key_is_accepted_without_a_restart_and_unknown_keys_refetch_at_most_once_a_minute()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer);
        using (var first = await ExchangeAsync(issuer.Token(), cache))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        Assert.Equal(1, issuer.JwksFetches);

        issuer.Rotate("rsa-2");
        using (var rotated = await ExchangeAsync(issuer.Token(), cache))
        {
            Assert.True(rotated.StatusCode == HttpStatusCode.OK, await rotated.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, issuer.JwksFetches);

        issuer.Rotate("rsa-3");
        using (var soon = await ExchangeAsync(issuer.Token(), cache))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, soon.StatusCode); // within the refresh interval: no fetch for a new kid
            Assert.Contains("unknown key", Detail(await soon.Content.ReadAsStringAsync()));
        }

        using (var junk = await ExchangeAsync(issuer.Token(key: TestOidcIssuer.Unpublished("made-up")), cache))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, junk.StatusCode);
        }

        Assert.Equal(2, issuer.JwksFetches);
    }

    [Fact]
    public async Task An_unreachable_issuer_makes_exchanges_503_and_tokens_minted_before_keep_working()
    {
        var issuer = await TestOidcIssuer.StartAsync();
        var down = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer);
        await AddPolicyAsync(cache, down.Issuer, "flywheel", [], "pull");
        string minted;
        using (var response = await ExchangeAsync(issuer.Token(), cache))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            minted = answer.RootElement.GetProperty("token").GetString()!;
        }

        var jwt = down.Token();
        await down.DisposeAsync();
        await issuer.DisposeAsync();

        using (var refused = await ExchangeAsync(jwt, cache))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Contains("cannot be fetched", Detail(await refused.Content.ReadAsStringAsync()));
        }

        using var client = _daemon.CreateClient(minted);
        using var show = await client.GetAsync($"/_api/v1/caches/{cache}");
        Assert.Equal(HttpStatusCode.OK, show.StatusCode);
    }

    [Fact]
    public async Task Removing_the_policy_revokes_the_tokens_it_minted_at_once()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer);
        string minted;
        using (var response = await ExchangeAsync(issuer.Token(), cache))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            minted = answer.RootElement.GetProperty("token").GetString()!;
        }

        using var client = _daemon.CreateClient(minted);
        using (var before = await client.GetAsync($"/_api/v1/caches/{cache}"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode); // checked once, so remembered by the daemon
        }

        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var policies = JsonDocument.Parse(await admin.GetStringAsync($"/_api/v1/caches/{cache}/trust"));
        var policy = policies.RootElement.EnumerateArray().Single().GetProperty("id").GetString();
        using (var removed = await admin.DeleteAsync($"/_api/v1/caches/{cache}/trust/{policy}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }

        using (var after = await client.GetAsync($"/_api/v1/caches/{cache}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        }

        var listed = (await ListTokensAsync()).Single(t => t.GetProperty("cache").GetString() == cache);
        Assert.NotEqual(JsonValueKind.Null, listed.GetProperty("revokedAt").ValueKind);
    }

    [Fact]
    public async Task A_jwt_is_never_looked_up_as_a_flywheel_token()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer);
        using var client = _daemon.CreateClient(issuer.Token());

        using var response = await client.GetAsync($"/_api/v1/caches/{cache}");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("exchange it at POST /_api/v1/auth/oidc", Detail(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task The_body_is_not_read_before_the_jwt_is_verified()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        await TrustedCacheAsync(issuer);
        using var client = _daemon.CreateClient(Tamper(issuer.Token()));
        using var body = new ByteArrayContent(new byte[4 * 1024 * 1024]);

        using var response = await client.PostAsync("/_api/v1/auth/oidc", body);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode); // not 413: the oversized body was never read
    }

    [Fact]
    public async Task Exchanges_are_counted_by_issuer_and_result()
    {
        await using var issuer = await TestOidcIssuer.StartAsync();
        var cache = await TrustedCacheAsync(issuer);
        (await ExchangeAsync(issuer.Token(), cache)).Dispose();
        (await ExchangeAsync(issuer.Token(expiresIn: TimeSpan.FromMinutes(-5), notBefore: TimeSpan.FromMinutes(-15)), cache)).Dispose();

        using var client = _daemon.CreateClient();
        var metrics = await client.GetStringAsync("/metrics");

        Assert.Contains($"flywheel_oidc_exchanges_total{{issuer=\"{issuer.Issuer}\",result=\"ok\"}} 1", metrics);
        Assert.Contains($"flywheel_oidc_exchanges_total{{issuer=\"{issuer.Issuer}\",result=\"expired\"}} 1", metrics);
    }

    /// <summary>The <c>detail</c> of a problem-details body.</summary>
    internal static string Detail(string problem)
    {
        using var doc = JsonDocument.Parse(problem);
        return doc.RootElement.GetProperty("detail").GetString()!;
    }

    private static string Tamper(string jwt)
    {
        var parts = jwt.Split('.');
        var signature = parts[2].ToCharArray();
        signature[10] = signature[10] == 'A' ? 'B' : 'A';
        return $"{parts[0]}.{parts[1]}.{new string(signature)}";
    }

    private Task<string> TrustedCacheAsync(TestOidcIssuer issuer, params string[] claims) => TrustedCacheWithTtlAsync(issuer, null, claims);

    private async Task<string> TrustedCacheWithTtlAsync(TestOidcIssuer issuer, string? ttl, params string[] claims)
    {
        var cache = "oidc-" + Guid.NewGuid().ToString("N")[..10];
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using (var created = await admin.PostAsJsonAsync("/_api/v1/caches", new { name = cache }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await AddPolicyAsync(cache, issuer.Issuer, "flywheel", claims, "pull,push,promote", ttl);
        return cache;
    }

    private async Task AddPolicyAsync(string cache, string issuer, string audience, string[] claims, string scopes, string? ttl = null)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var added = await admin.PostAsJsonAsync($"/_api/v1/caches/{cache}/trust", new { issuer, audience, claims, scopes, ttl });
        Assert.True(added.StatusCode == HttpStatusCode.Created, await added.Content.ReadAsStringAsync());
    }

    private async Task<HttpResponseMessage> ExchangeAsync(string jwt, string cache)
    {
        using var client = _daemon.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_api/v1/auth/oidc")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { cache }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
        return await client.SendAsync(request);
    }

    private async Task<List<JsonElement>> ListTokensAsync()
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var doc = JsonDocument.Parse(await admin.GetStringAsync("/_api/v1/tokens"));
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }
}
