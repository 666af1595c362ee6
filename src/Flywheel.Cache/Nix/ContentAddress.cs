using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Flywheel.Cache.Nix;

/// <summary>
/// A narinfo's <c>CA</c> field as Nix parses it (libstore content-address.cc, parseContentAddress):
/// <c>text:sha256:&lt;hash&gt;</c> or <c>fixed:[r:]&lt;md5|sha1|sha256|sha512&gt;:&lt;hash&gt;</c>, the hash unprefixed in
/// base16, Nix base32 or base64 of exactly the algorithm's length (Hash::parseNonSRIUnprefixed; no SRI form here).
/// Only checked, not interpreted: the text is kept as uploaded.
/// </summary>
public static class ContentAddress
{
    /// <summary>True when <paramref name="text"/> is a content address Nix accepts; otherwise <paramref name="error"/> says why.</summary>
    public static bool IsValid(ReadOnlySpan<char> text, [NotNullWhen(false)] out string? error)
    {
        string? algorithm;
        ReadOnlySpan<char> rest;
        if (text.StartsWith("text:", StringComparison.Ordinal))
        {
            rest = text["text:".Length..];
            if (!TrySplitAlgorithm(ref rest, out algorithm) || algorithm != "sha256")
            {
                error = "a text content address is text:sha256:<hash>";
                return false;
            }
        }
        else if (text.StartsWith("fixed:", StringComparison.Ordinal))
        {
            rest = text["fixed:".Length..];
            if (rest.StartsWith("r:", StringComparison.Ordinal))
            {
                rest = rest[2..];
            }

            if (!TrySplitAlgorithm(ref rest, out algorithm))
            {
                error = "a fixed content address is fixed:[r:]<md5|sha1|sha256|sha512>:<hash>";
                return false;
            }
        }
        else
        {
            error = "a content address starts with 'text:' or 'fixed:'";
            return false;
        }

        var size = algorithm switch { "md5" => 16, "sha1" => 20, "sha256" => 32, _ => 64 };
        if (!IsHash(rest, size))
        {
            error = string.Create(CultureInfo.InvariantCulture,
                $"'{ClientText.Cut(rest)}' is not a {algorithm} hash in base16 ({size * 2}), nix base32 ({NixBase32.EncodedLength(size)}) or base64 ({((size + 2) / 3) * 4}) characters");
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Takes <c>&lt;algorithm&gt;:</c> off the front of <paramref name="rest"/>.</summary>
    private static bool TrySplitAlgorithm(ref ReadOnlySpan<char> rest, [NotNullWhen(true)] out string? algorithm)
    {
        var colon = rest.IndexOf(':');
        algorithm = colon switch
        {
            3 when rest.StartsWith("md5", StringComparison.Ordinal) => "md5",
            4 when rest.StartsWith("sha1", StringComparison.Ordinal) => "sha1",
            6 when rest.StartsWith("sha256", StringComparison.Ordinal) => "sha256",
            6 when rest.StartsWith("sha512", StringComparison.Ordinal) => "sha512",
            _ => null,
        };
        if (algorithm is null)
        {
            return false;
        }

        rest = rest[(colon + 1)..];
        return true;
    }

    private static bool IsHash(ReadOnlySpan<char> hash, int size)
    {
        Span<byte> bytes = stackalloc byte[64];
        bytes = bytes[..size];
        if (hash.Length == size * 2)
        {
            return Convert.FromHexString(hash, bytes, out _, out var written) == System.Buffers.OperationStatus.Done && written == size;
        }

        if (hash.Length == NixBase32.EncodedLength(size))
        {
            return NixBase32.TryDecode(hash, bytes);
        }

        return hash.Length == ((size + 2) / 3) * 4 && Convert.TryFromBase64Chars(hash, bytes, out var n) && n == size;
    }
}
