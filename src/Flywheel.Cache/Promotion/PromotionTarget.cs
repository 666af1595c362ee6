using System.Net;
using System.Text.RegularExpressions;

namespace Flywheel.Cache.Promotion;

/// <summary>
/// Where a promotion publishes: <c>oci://REGISTRY/NAME[:TAG]</c> (an OCI registry; loopback registries are spoken
/// to over plain HTTP, every other over HTTPS) or <c>flakehub://ORG/FLAKE[@VERSION]</c> (the FlakeHub adapter).
/// </summary>
public sealed partial record PromotionTarget(PromotionClass Class, string Text, string Registry, string Repository, string Tag, string? Version)
{
    public bool IsOci => Class == PromotionClass.OciImage;

    /// <summary>The registry's base URL (<c>http://</c> for loopback hosts, else <c>https://</c>).</summary>
    public Uri RegistryBaseUri
    {
        get
        {
            var host = Registry.StartsWith('[') ? Registry[..(Registry.IndexOf(']') + 1)] : Registry.Split(':')[0];
            var loopback = host == "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
            return new Uri($"{(loopback ? "http" : "https")}://{Registry}/");
        }
    }

    public static PromotionTarget Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > 512)
        {
            throw CacheException.Invalid("a target is oci://REGISTRY/NAME[:TAG] or flakehub://ORG/FLAKE[@VERSION]");
        }

        if (text.StartsWith("oci://", StringComparison.Ordinal))
        {
            var m = OciReference().Match(text["oci://".Length..]);
            if (!m.Success)
            {
                throw CacheException.Invalid($"target {ClientText.Quote(text)} is not oci://REGISTRY/NAME[:TAG] (NAME in lower case: a-z, 0-9, '.', '_', '-', '/')");
            }

            var tag = m.Groups["tag"].Success ? m.Groups["tag"].Value : "latest";
            return new PromotionTarget(PromotionClass.OciImage, text, m.Groups["registry"].Value, m.Groups["name"].Value, tag, null);
        }

        if (text.StartsWith("flakehub://", StringComparison.Ordinal))
        {
            var m = FlakeReference().Match(text["flakehub://".Length..]);
            if (!m.Success)
            {
                throw CacheException.Invalid($"target {ClientText.Quote(text)} is not flakehub://ORG/FLAKE[@VERSION]");
            }

            var version = m.Groups["version"].Success ? m.Groups["version"].Value : null;
            return new PromotionTarget(PromotionClass.CleanDerivation, text, "", $"{m.Groups["org"].Value}/{m.Groups["flake"].Value}", "", version);
        }

        throw CacheException.Invalid($"target {ClientText.Quote(text)} is neither oci://REGISTRY/NAME[:TAG] nor flakehub://ORG/FLAKE[@VERSION]");
    }

    // Distribution spec: path components [a-z0-9]+ joined by '.', '_', '__' or '-'s; tags [\w][\w.-]{0,127}.
    [GeneratedRegex(@"^(?<registry>[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9a-fA-F:]+\](:[0-9]{1,5})?)/(?<name>[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}))?$")]
    private static partial Regex OciReference();

    [GeneratedRegex(@"^(?<org>[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})/(?<flake>[A-Za-z0-9][A-Za-z0-9_.\-]{0,127})(?:@(?<version>[0-9A-Za-z.+\-]{1,128}))?$")]
    private static partial Regex FlakeReference();
}
