using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Nix;

/// <summary>
/// A Nix hash as it appears in narinfo files (FileHash, NarHash) and content addresses. Only SHA-256 is
/// supported. Parses <c>sha256:</c> followed by nix32 (52), hex (64) or base64 (44), and SRI
/// <c>sha256-&lt;base64&gt;</c>; prints Nix's canonical narinfo form <c>sha256:&lt;nix32&gt;</c>.
/// </summary>
public readonly struct NixHash : IEquatable<NixHash>
{
    public const string Algorithm = "sha256";
    public const int Nix32Length = 52;
    public const int HexLength = 64;
    public const int Base64Length = 44;

    /// <summary>Length of <c>sha256:&lt;nix32&gt;</c>.</summary>
    public const int CanonicalLength = 7 + Nix32Length;

    private NixHash(BlobDigest digest) => Digest = digest;

    public BlobDigest Digest { get; }

    public static NixHash FromDigest(BlobDigest digest) => new(digest);

    public static NixHash Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out var hash, out var error))
        {
            ThrowInvalid(error);
        }

        return hash;
    }

    public static bool TryParse([NotNullWhen(true)] string? text, out NixHash hash)
    {
        if (text is null)
        {
            hash = default;
            return false;
        }

        return TryParse(text.AsSpan(), out hash, out _);
    }

    public static bool TryParse(ReadOnlySpan<char> text, out NixHash hash) => TryParse(text, out hash, out _);

    /// <summary>Parses, and on failure says what is wrong in <paramref name="error"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out NixHash hash, [NotNullWhen(false)] out string? error)
    {
        hash = default;
        var sep = text.IndexOfAny(':', '-');
        if (sep <= 0)
        {
            error = $"'{ClientText.Cut(text)}' is not a hash (expected sha256:<hash> or sha256-<base64>)";
            return false;
        }

        var algorithm = text[..sep];
        var isSri = text[sep] == '-';
        if (!algorithm.SequenceEqual(Algorithm))
        {
            error = $"unsupported hash algorithm {ClientText.Cut(algorithm)}";
            return false;
        }

        var body = text[(sep + 1)..];
        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        bool ok;
        if (isSri)
        {
            ok = body.Length == Base64Length && Convert.TryFromBase64Chars(body, bytes, out var n) && n == bytes.Length;
        }
        else
        {
            switch (body.Length)
            {
                case Nix32Length:
                    ok = NixBase32.TryDecode(body, bytes);
                    break;
                case HexLength:
                    ok = BlobDigest.TryParseHex(body, out var d);
                    if (ok)
                    {
                        hash = new NixHash(d);
                        error = null;
                        return true;
                    }

                    break;
                case Base64Length:
                    ok = Convert.TryFromBase64Chars(body, bytes, out var written) && written == bytes.Length;
                    break;
                default:
                    error = $"sha256 hash '{ClientText.Cut(body)}' has length {body.Length}; expected 52 (nix32), 64 (hex) or 44 (base64)";
                    return false;
            }
        }

        if (!ok)
        {
            error = $"'{ClientText.Cut(text)}' is not a valid sha256 hash";
            return false;
        }

        hash = new NixHash(BlobDigest.FromBytes(bytes));
        error = null;
        return true;
    }

    /// <summary><c>sha256:&lt;nix32&gt;</c>, the form Nix writes in narinfo files and fingerprints.</summary>
    public override string ToString() => string.Create(CanonicalLength, Digest, static (span, d) => Write(d, span));

    /// <summary>Writes <c>sha256:&lt;nix32&gt;</c> (<see cref="CanonicalLength"/> chars).</summary>
    public void WriteTo(Span<char> destination) => Write(Digest, destination);

    /// <summary>The nix32 digits alone, the form used in narinfo URLs and store paths.</summary>
    public string ToNix32()
    {
        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        Digest.WriteBytes(bytes);
        return NixBase32.Encode(bytes);
    }

    /// <summary>SRI form, <c>sha256-&lt;base64&gt;</c>.</summary>
    public string ToSri()
    {
        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        Digest.WriteBytes(bytes);
        return "sha256-" + Convert.ToBase64String(bytes);
    }

    public bool Equals(NixHash other) => Digest.Equals(other.Digest);

    public override bool Equals(object? obj) => obj is NixHash other && Equals(other);

    public override int GetHashCode() => Digest.GetHashCode();

    public static bool operator ==(NixHash left, NixHash right) => left.Equals(right);

    public static bool operator !=(NixHash left, NixHash right) => !left.Equals(right);

    private static void Write(BlobDigest digest, Span<char> destination)
    {
        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        digest.WriteBytes(bytes);
        "sha256:".CopyTo(destination);
        NixBase32.Encode(bytes, destination[7..]);
    }


    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalid(string message) => throw CacheException.Invalid(message);
}
