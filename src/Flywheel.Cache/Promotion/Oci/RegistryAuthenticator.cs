using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// The registry's auth: on a 401 it reads <c>WWW-Authenticate</c>. A Bearer challenge sends the caller's Basic
/// credentials (when there are any) to its realm with its service and the scope <c>repository:&lt;name&gt;:push,pull</c>
/// and keeps the token it gets; a Basic challenge uses the credentials directly.
/// </summary>
internal sealed class RegistryAuthenticator(HttpClient http, string repository, string? user, string? password)
{
    private AuthenticationHeaderValue? _authorization;

    public AuthenticationHeaderValue? Authorization => _authorization;

    public string Scope => $"repository:{repository}:push,pull";

    /// <summary>Answers a 401; false when there is nothing more to try.</summary>
    public async Task<bool> AnswerAsync(HttpResponseMessage unauthorized, CancellationToken ct)
    {
        var attempted = _authorization;
        foreach (var challenge in unauthorized.Headers.WwwAuthenticate)
        {
            if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
            {
                var parameters = ParseParameters(challenge.Parameter ?? "");
                if (!parameters.TryGetValue("realm", out var realm))
                {
                    continue;
                }

                var token = await FetchTokenAsync(realm, parameters.GetValueOrDefault("service"), ct).ConfigureAwait(false);
                _authorization = new AuthenticationHeaderValue("Bearer", token);
                return _authorization.Parameter != attempted?.Parameter;
            }

            if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) && user is not null)
            {
                _authorization = new AuthenticationHeaderValue("Basic", BasicValue());
                return attempted?.Scheme != "Basic";
            }
        }

        return false;
    }

    private async Task<string> FetchTokenAsync(string realm, string? service, CancellationToken ct)
    {
        var query = new StringBuilder("?scope=").Append(Uri.EscapeDataString(Scope));
        if (service is not null)
        {
            query.Append("&service=").Append(Uri.EscapeDataString(service));
        }

        if (!Uri.TryCreate(realm + (realm.Contains('?') ? "&" + query.ToString(1, query.Length - 1) : query.ToString()), UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https"))
        {
            throw new CacheException(CacheError.Unavailable, $"the registry's token realm '{realm}' is not an http(s) URL");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (user is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", BasicValue());
        }

        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            throw new CacheException(CacheError.Forbidden, $"the registry's token service {uri.GetLeftPart(UriPartial.Path)} refused the credentials for {Scope} ({(int)response.StatusCode})");
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new CacheException(CacheError.Unavailable, $"the registry's token service {uri.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode}");
        }

        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
        foreach (var name in (string[])["token", "access_token"])
        {
            if (document.RootElement.TryGetProperty(name, out var value) && value.GetString() is { Length: > 0 } token)
            {
                return token;
            }
        }

        throw new CacheException(CacheError.Unavailable, "the registry's token service answered without a token");
    }

    private string BasicValue() => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    /// <summary>The <c>key="value"</c> pairs of a challenge (values may contain commas inside quotes).</summary>
    internal static Dictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }

            var eq = text.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }

            var key = text[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var end = text.IndexOf('"', i + 1);
                end = end < 0 ? text.Length : end;
                value = text[(i + 1)..end];
                i = end + 1;
            }
            else
            {
                var end = text.IndexOf(',', i);
                end = end < 0 ? text.Length : end;
                value = text[i..end].Trim();
                i = end;
            }

            result[key] = value;
        }

        return result;
    }
}
