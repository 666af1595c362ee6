namespace Flywheel.Cache.Builds;

/// <summary>
/// What a build request names: <c>FILE.nix#ATTR</c> (a Nix file and an attribute path, evaluated with
/// <c>nix-instantiate FILE -A ATTR</c>) or <c>FLAKEREF#ATTR</c> (evaluated with <c>nix eval --raw FLAKEREF#ATTR.drvPath</c>).
/// Each part reaches Nix as one argument of its own, never through a shell.
/// </summary>
public sealed record Installable(string Text, string Source, string Attribute, bool IsFile)
{
    public const int MaxLength = 1024;

    public static Installable Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > MaxLength || text.Any(char.IsControl) || text.StartsWith('-'))
        {
            throw new CacheException(CacheError.Invalid,
                $"an installable is FLAKEREF#ATTR or FILE.nix#ATTR, at most {MaxLength} characters, without control characters or a leading '-'");
        }

        var hash = text.LastIndexOf('#');
        var source = hash < 0 ? text : text[..hash];
        var attribute = hash < 0 ? "" : text[(hash + 1)..];
        if (source.Length == 0 || attribute.StartsWith('-'))
        {
            throw new CacheException(CacheError.Invalid, $"installable {ClientText.Quote(text)} needs a source before '#' and an attribute that does not start with '-'");
        }

        var isFile = source.EndsWith(".nix", StringComparison.Ordinal);
        if (!isFile && attribute.Length == 0)
        {
            throw new CacheException(CacheError.Invalid, $"installable {ClientText.Quote(text)} names a flake; add '#ATTR' (e.g. '#packages.x86_64-linux.default')");
        }

        return new Installable(text, source, attribute, isFile);
    }
}
