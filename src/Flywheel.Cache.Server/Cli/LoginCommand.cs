using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.Server.Api;
using Flywheel.Cache.Server.Auth.Oidc;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// <c>flywheel login --server URL [--cache main] [--audience flywheel] [--oidc-token-file F | --oidc-token-env NAME]
/// [--netrc PATH] [--nix-conf PATH] [--bazelrc PATH] [--env-file PATH]</c>: in a CI job, gets the job's OIDC ID token
/// (a file, a variable, or GitHub Actions' <c>ACTIONS_ID_TOKEN_REQUEST_URL</c>/<c>_TOKEN</c> with the audience),
/// exchanges it at <c>POST /_api/v1/auth/oidc</c>, and writes what Nix and Bazel need (files mode 0600). It prints
/// what it wrote, never the token.
/// </summary>
internal static class LoginCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "URL of the flywheel daemon (default: $FLYWHEEL_SERVER)" };
        var cache = new Option<string>("--cache") { Description = "the cache to get a token for", DefaultValueFactory = _ => "main" };
        var audience = new Option<string>("--audience") { Description = "the audience to ask GitHub Actions for (what the trust policy names)", DefaultValueFactory = _ => "flywheel" };
        var tokenFile = new Option<string>("--oidc-token-file") { Description = "read the ID token from this file" };
        var tokenEnv = new Option<string>("--oidc-token-env") { Description = "read the ID token from this environment variable (GitLab: the id_tokens variable)" };
        var netrc = new Option<string>("--netrc") { Description = "write a netrc with the token for Nix (nix copy, substituting)" };
        var nixConf = new Option<string>("--nix-conf") { Description = "write a nix.conf fragment: substituters, trusted-public-keys, netrc-file (needs --netrc)" };
        var bazelrc = new Option<string>("--bazelrc") { Description = "write a bazelrc with --remote_cache and the Authorization header" };
        var envFile = new Option<string>("--env-file") { Description = "append FLYWHEEL_SERVER and FLYWHEEL_TOKEN for later steps (GitHub Actions: $GITHUB_ENV)" };
        var command = new Command("login", "In a CI job: exchange the job's OIDC ID token for a flywheel token and write netrc, nix.conf and bazelrc for it.")
        {
            server, cache, audience, tokenFile, tokenEnv, netrc, nixConf, bazelrc, envFile,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var url = parse.GetValue(server) ?? Environment.GetEnvironmentVariable("FLYWHEEL_SERVER");
                if (string.IsNullOrEmpty(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                {
                    throw CacheException.Invalid("--server (or FLYWHEEL_SERVER) must be the daemon's http(s) URL");
                }

                if (parse.GetValue(nixConf) is not null && parse.GetValue(netrc) is null)
                {
                    throw CacheException.Invalid("--nix-conf names the netrc file Nix reads the token from: give --netrc too");
                }

                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
                var idToken = await IdTokenAsync(http, parse.GetValue(tokenFile), parse.GetValue(tokenEnv), parse.GetValue(audience)!, ct);
                var answer = await ExchangeAsync(http, uri, idToken, parse.GetValue(cache)!, ct);
                Console.WriteLine($"flywheel login: token for cache {answer.Cache} ({string.Join(',', answer.Scopes)}), expires {answer.ExpiresAt:u}");
                var cacheUrl = uri.ToString().TrimEnd('/') + "/" + Uri.EscapeDataString(answer.Cache);
                if (parse.GetValue(netrc) is { } netrcPath)
                {
                    await WritePrivateAsync(netrcPath, $"machine {uri.Host}\nlogin flywheel\npassword {answer.Token}\n", ct);
                    Console.WriteLine($"wrote {netrcPath}: netrc for machine {uri.Host}");
                }

                if (parse.GetValue(nixConf) is { } nixConfPath)
                {
                    var key = await PublicKeyAsync(http, uri, answer, ct);
                    var netrcFile = Path.GetFullPath(parse.GetValue(netrc)!);
                    await WritePrivateAsync(nixConfPath, $"substituters = {cacheUrl}\ntrusted-public-keys = {key}\nnetrc-file = {netrcFile}\n", ct);
                    Console.WriteLine($"wrote {nixConfPath}: substituters = {cacheUrl}, trusted-public-keys = {key}, netrc-file = {netrcFile}");
                }

                if (parse.GetValue(bazelrc) is { } bazelrcPath)
                {
                    await WritePrivateAsync(bazelrcPath, $"build --remote_cache={cacheUrl}\nbuild --remote_header=\"Authorization=Bearer {answer.Token}\"\n", ct);
                    Console.WriteLine($"wrote {bazelrcPath}: --remote_cache={cacheUrl} and the Authorization header");
                }

                if (parse.GetValue(envFile) is { } envPath)
                {
                    await File.AppendAllTextAsync(envPath, $"FLYWHEEL_SERVER={uri.ToString().TrimEnd('/')}\nFLYWHEEL_TOKEN={answer.Token}\n", ct);
                    Console.WriteLine($"appended FLYWHEEL_SERVER and FLYWHEEL_TOKEN to {envPath}");
                }

                return 0;
            }
            catch (CacheException e)
            {
                Console.Error.WriteLine($"flywheel login: {e.Message}");
                return e.Error == CacheError.Invalid ? 2 : 1;
            }
        });
        return command;
    }

    /// <summary>The job's ID token: from the file, the variable, or GitHub Actions' token service, in that order.</summary>
    private static async Task<string> IdTokenAsync(HttpClient http, string? file, string? variable, string audience, CancellationToken ct)
    {
        if (file is not null)
        {
            return File.Exists(file)
                ? (await File.ReadAllTextAsync(file, ct)).Trim()
                : throw CacheException.Invalid($"--oidc-token-file: no file {file}");
        }

        if (variable is not null)
        {
            return Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
                ? value.Trim()
                : throw CacheException.Invalid($"--oidc-token-env: the variable {variable} is not set (GitLab: declare it under id_tokens with aud: {audience})");
        }

        var requestUrl = Environment.GetEnvironmentVariable("ACTIONS_ID_TOKEN_REQUEST_URL");
        var requestToken = Environment.GetEnvironmentVariable("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        if (string.IsNullOrEmpty(requestUrl) || string.IsNullOrEmpty(requestToken))
        {
            throw CacheException.Invalid(
                "no ID token: give --oidc-token-file or --oidc-token-env, or run in GitHub Actions with `permissions: id-token: write`");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, requestUrl + (requestUrl.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "audience=" + Uri.EscapeDataString(audience));
        request.Headers.Authorization = new AuthenticationHeaderValue("bearer", requestToken);
        using var response = await SendAsync(http, request, "GitHub Actions' ID token service", ct);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        return document.RootElement.TryGetProperty("value", out var field) && field.GetString() is { Length: > 0 } jwt
            ? jwt
            : throw new CacheException(CacheError.Unavailable, "GitHub Actions' ID token service answered without a value");
    }

    private static async Task<OidcExchangeAnswer> ExchangeAsync(HttpClient http, Uri server, string idToken, string cache, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server, "/_api/v1/auth/oidc"))
        {
            Content = JsonContent.Create(new OidcExchangeRequest(cache), options: Json),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", idToken);
        using var response = await SendAsync(http, request, "the OIDC exchange", ct);
        return await response.Content.ReadFromJsonAsync<OidcExchangeAnswer>(Json, ct)
            ?? throw new CacheException(CacheError.Unavailable, "the server answered the exchange with nothing");
    }

    private static async Task<string> PublicKeyAsync(HttpClient http, Uri server, OidcExchangeAnswer answer, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server, "/_api/v1/caches/" + Uri.EscapeDataString(answer.Cache)));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", answer.Token);
        using var response = await SendAsync(http, request, "the cache's public key", ct);
        return (await response.Content.ReadFromJsonAsync<CacheView>(Json, ct))?.PublicKey
            ?? throw new CacheException(CacheError.Unavailable, "the server sent no public key for the cache");
    }

    /// <summary>Sends; a failure becomes a <see cref="CacheException"/> with the status and the server's short reason.</summary>
    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, string what, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new CacheException(CacheError.Unavailable, $"{what}: cannot reach {request.RequestUri?.GetLeftPart(UriPartial.Authority)}: {e.Message}", e);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var detail = await ApiAdminClient.ReadProblemAsync(response, ct);
            throw new CacheException(CacheError.Unauthenticated, $"{what}: {(int)response.StatusCode} {response.ReasonPhrase}: {ClientText.Cut(detail)}");
        }
    }

    /// <summary>Creates the file's folder and writes it mode 0600 (it holds the token).</summary>
    private static Task WritePrivateAsync(string path, string text, CancellationToken ct)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        return Hosting.Bootstrap.WriteSecretFileAsync(path, text, ct);
    }
}
