using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using Flywheel.Cache.Index;
using Flywheel.Cache.Storage;
using Digest = Build.Bazel.Remote.Execution.V2.Digest;
using DigestFunction = Build.Bazel.Remote.Execution.V2.DigestFunction.Types.Value;

namespace Flywheel.Cache.Bazel;

/// <summary>
/// A REAPI digest: the SHA-256 of a blob and its size in bytes. On the wire the hash is 64 lower-case hex
/// digits and the size is non-negative; anything else is rejected with a message naming the bad digest.
/// </summary>
public readonly record struct BazelDigest(BlobDigest Hash, long SizeBytes)
{
    /// <summary>The digest of zero bytes, which every REAPI server has.</summary>
    public static BazelDigest Empty { get; } = new(BlobDigest.Empty, 0);

    private static readonly SearchValues<char> LowerHexDigits = SearchValues.Create("0123456789abcdef");

    public bool IsEmpty => SizeBytes == 0 && Hash == BlobDigest.Empty;

    public static BazelDigest Compute(ReadOnlySpan<byte> content) => new(BlobDigest.Compute(content), content.Length);

    public static bool TryFrom(Digest? digest, out BazelDigest result)
    {
        result = default;
        return digest is not null && TryParse(digest.Hash, digest.SizeBytes, out result);
    }

    /// <summary>The digest, or <see cref="CacheError.Invalid"/> naming <paramref name="what"/> and the bad value.</summary>
    public static BazelDigest From(Digest? digest, string what = "digest")
    {
        if (TryFrom(digest, out var result))
        {
            return result;
        }

        throw Invalid(digest, what);
    }

    /// <summary>A hash (64 lower-case hex digits) and a size (non-negative).</summary>
    public static bool TryParse(ReadOnlySpan<char> hash, long sizeBytes, out BazelDigest result)
    {
        result = default;
        if (sizeBytes < 0 || !IsLowerHex(hash) || !BlobDigest.TryParseHex(hash, out var digest))
        {
            return false;
        }

        result = new BazelDigest(digest, sizeBytes);
        return true;
    }

    /// <summary>A hash and a size as text (decimal digits only, no sign), as in resource names and HTTP paths.</summary>
    public static bool TryParse(ReadOnlySpan<char> hash, ReadOnlySpan<char> size, out BazelDigest result)
    {
        result = default;
        return size.Length is > 0 and <= 19 &&
               long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var sizeBytes) &&
               TryParse(hash, sizeBytes, out result);
    }

    /// <summary>
    /// Checks a request's <c>digest_function</c> (REAPI 2.3 clients send it): unset (UNKNOWN, what clients before
    /// 2.3 send) means SHA-256, the only function served; any other is <see cref="CacheError.Invalid"/>, so a client
    /// hashing with another function learns it at its first call instead of finding nothing under its digests.
    /// </summary>
    public static void RequireServedFunction(DigestFunction function)
    {
        if (function is not (DigestFunction.Unknown or DigestFunction.Sha256))
        {
            throw UnservedFunction(function);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CacheException UnservedFunction(DigestFunction function) =>
        CacheException.Invalid($"digest_function {function.ToString().ToUpperInvariant()} is not served; this server serves SHA256 only");

    public Digest ToProto() => new() { Hash = Hash.ToHex(), SizeBytes = SizeBytes };

    public SizedBlob ToSizedBlob() => new(Hash, SizeBytes);

    /// <summary><c>hash/size</c>, the form used in resource names and messages.</summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture, $"{Hash.ToHex()}/{SizeBytes}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static CacheException Invalid(Digest? digest, string what)
    {
        if (digest is null)
        {
            return CacheException.Invalid($"{what} is missing");
        }

        var hash = ClientText.Cut(digest.Hash);
        var problem = digest.SizeBytes < 0
            ? "the size is negative"
            : "the hash is not a SHA-256 (64 lower-case hex digits); only SHA-256 is supported";
        return CacheException.Invalid($"{what} '{hash}/{digest.SizeBytes}' is not valid: {problem}");
    }

    private static bool IsLowerHex(ReadOnlySpan<char> hash) =>
        hash.Length == BlobDigest.HexLength && !hash.ContainsAnyExcept(LowerHexDigits);
}
