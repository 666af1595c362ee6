using Flywheel.Cache.Compression;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Nix;

/// <summary>
/// The name of a NAR file in a binary cache, as in the narinfo's URL <c>nar/&lt;filehash&gt;.nar[.xz|.zst|.br|.bz2]</c>:
/// the FileHash in nix-base32 and the compression's extension.
/// </summary>
public readonly record struct NarFileName(BlobDigest FileHash, NarCompression Compression)
{
    private const int HashChars = 52;

    public static bool TryParse(ReadOnlySpan<char> name, out NarFileName result)
    {
        result = default;
        if (name.Length < HashChars + 4 || !name.Slice(HashChars, 4).SequenceEqual(".nar"))
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        if (!NixBase32.TryDecode(name[..HashChars], bytes)
            || !NarCompressions.TryFromExtension(name[(HashChars + 4)..], out var compression))
        {
            return false;
        }

        result = new NarFileName(BlobDigest.FromBytes(bytes), compression);
        return true;
    }

    public static NarFileName Parse(string name) =>
        TryParse(name, out var result)
            ? result
            : throw CacheException.Invalid(
                $"'{ClientText.Cut(name)}' is not a NAR file name: expected <52 nix-base32 characters of the FileHash>.nar with an optional .xz, .zst, .br or .bz2");

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[BlobDigest.ByteLength];
        FileHash.WriteBytes(bytes);
        return NixBase32.Encode(bytes) + ".nar" + NarCompressions.ToExtension(Compression);
    }
}
