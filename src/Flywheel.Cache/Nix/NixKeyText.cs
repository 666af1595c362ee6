namespace Flywheel.Cache.Nix;

/// <summary>The <c>name:base64</c> text form shared by Nix secret keys, public keys and signatures.</summary>
internal static class NixKeyText
{
    public static (string Name, string Body) Split(string text, string what)
    {
        var colon = text.IndexOf(':');
        if (colon < 0)
        {
            throw CacheException.Invalid($"{what} is not '<name>:<base64>'");
        }

        var name = text[..colon];
        CheckName(name, what);
        return (name, text[(colon + 1)..]);
    }

    public static void CheckName(string name, string what)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw CacheException.Invalid($"{what} has an empty name");
        }

        if (name.Contains(':') || name.Any(char.IsWhiteSpace))
        {
            throw CacheException.Invalid($"{what} name {ClientText.Quote(name)} contains ':' or whitespace");
        }
    }

    // The message never includes the body: for secret keys it is the secret.
    public static byte[] DecodeBase64(string body, string what, string name)
    {
        try
        {
            return Convert.FromBase64String(body);
        }
        catch (FormatException)
        {
            throw CacheException.Invalid($"{what} {ClientText.Quote(name)} is not valid base64");
        }
    }
}
