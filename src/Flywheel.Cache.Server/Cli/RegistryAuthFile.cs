using System.Text;
using System.Text.Json;

namespace Flywheel.Cache.Server.Cli;

/// <summary>
/// Registry credentials from the containers auth file (what <c>podman login</c>, <c>skopeo login</c> and
/// <c>buildah login</c> write): <c>$REGISTRY_AUTH_FILE</c>, else <c>$XDG_RUNTIME_DIR/containers/auth.json</c>; format
/// <c>{"auths": {"host:port": {"auth": "base64(user:password)"}}}</c>. Keys may also name a namespace or repository
/// (<c>host/org</c>, <c>host/org/app</c>); the most specific key that covers the repository wins, as containers-auth.json(5) says.
/// </summary>
internal static class RegistryAuthFile
{
    /// <summary>The file to read, or null when neither variable names one.</summary>
    public static string? DefaultPath()
    {
        if (Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE") is { Length: > 0 } file)
        {
            return file;
        }

        return Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime
            ? Path.Combine(runtime, "containers", "auth.json")
            : null;
    }

    /// <summary>The user and password for <paramref name="registry"/>/<paramref name="repository"/>; null when the file has none (or does not exist).</summary>
    public static (string User, string Password)? Find(string? path, string registry, string repository)
    {
        if (path is null || !File.Exists(path))
        {
            return null;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw CacheException.Invalid($"the registry auth file {path} is not JSON: {e.Message}");
        }

        using (document)
        {
            if (!document.RootElement.TryGetProperty("auths", out var auths) || auths.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            foreach (var key in Candidates(registry, repository))
            {
                foreach (var entry in auths.EnumerateObject())
                {
                    if (Normalize(entry.Name) == key && entry.Value.TryGetProperty("auth", out var auth) && auth.GetString() is { Length: > 0 } encoded)
                    {
                        return Decode(encoded, path, entry.Name);
                    }
                }
            }
        }

        return null;
    }

    /// <summary><c>host/org/app</c>, <c>host/org</c>, <c>host</c>: the most specific first.</summary>
    private static IEnumerable<string> Candidates(string registry, string repository)
    {
        var key = $"{registry}/{repository}";
        while (true)
        {
            yield return key;
            var slash = key.LastIndexOf('/');
            if (slash < 0)
            {
                yield break;
            }

            key = key[..slash];
        }
    }

    /// <summary>Docker-style keys may carry a scheme and a trailing slash (<c>https://host/</c>).</summary>
    private static string Normalize(string key)
    {
        var scheme = key.IndexOf("://", StringComparison.Ordinal);
        return (scheme >= 0 ? key[(scheme + 3)..] : key).TrimEnd('/');
    }

    private static (string, string) Decode(string encoded, string path, string key)
    {
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        catch (FormatException)
        {
            throw CacheException.Invalid($"the registry auth file {path}: the auth of '{key}' is not base64");
        }

        var colon = text.IndexOf(':');
        return colon > 0
            ? (text[..colon], text[(colon + 1)..])
            : throw CacheException.Invalid($"the registry auth file {path}: the auth of '{key}' is not base64 of user:password");
    }
}
