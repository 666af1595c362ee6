using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Flywheel.Cache.Storage;

/// <summary>
/// The key of every blob: the SHA-256 of its bytes. A readonly struct of four words, so digests are
/// compared, hashed and stored in sets without allocating.
/// </summary>
public readonly struct BlobDigest : IEquatable<BlobDigest>, IComparable<BlobDigest>
{
    public const int ByteLength = 32;
    public const int HexLength = 64;

    private readonly ulong _a, _b, _c, _d;

    private BlobDigest(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a; _b = b; _c = c; _d = d;
    }

    /// <summary>The digest of zero bytes (always present, by definition).</summary>
    public static readonly BlobDigest Empty = FromBytes(SHA256.HashData(ReadOnlySpan<byte>.Empty));

    public static BlobDigest FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteLength)
        {
            ThrowWrongLength(bytes.Length);
        }

        return new BlobDigest(
            BinaryPrimitives.ReadUInt64BigEndian(bytes),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
    }

    public static BlobDigest Compute(ReadOnlySpan<byte> content)
    {
        Span<byte> hash = stackalloc byte[ByteLength];
        SHA256.HashData(content, hash);
        return FromBytes(hash);
    }

    public void WriteBytes(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[ByteLength];
        WriteBytes(bytes);
        return bytes;
    }

    /// <summary>Parses 64 hex digits (either case). Anything else is not a digest.</summary>
    public static bool TryParseHex(ReadOnlySpan<char> hex, out BlobDigest digest)
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        if (hex.Length != HexLength || Convert.FromHexString(hex, bytes, out _, out _) != OperationStatus.Done)
        {
            digest = default;
            return false;
        }

        digest = FromBytes(bytes);
        return true;
    }

    /// <summary>Parses 64 hex digits given as UTF-8 bytes.</summary>
    public static bool TryParseHex(ReadOnlySpan<byte> hexUtf8, out BlobDigest digest)
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        if (hexUtf8.Length != HexLength || Convert.FromHexString(hexUtf8, bytes, out _, out _) != OperationStatus.Done)
        {
            digest = default;
            return false;
        }

        digest = FromBytes(bytes);
        return true;
    }

    public static BlobDigest ParseHex(string hex) =>
        TryParseHex(hex, out var d) ? d : throw CacheException.Invalid($"'{hex}' is not a SHA-256 digest (64 hex digits)");

    /// <summary>Lower-case hex, the form used in storage keys and Bazel.</summary>
    public string ToHex() => string.Create(HexLength, this, static (span, d) => d.WriteHex(span));

    public void WriteHex(Span<char> destination)
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        WriteBytes(bytes);
        Convert.TryToHexStringLower(bytes, destination, out _);
    }

    public override string ToString() => ToHex();

    public bool Equals(BlobDigest other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is BlobDigest other && Equals(other);

    // The bytes are uniformly distributed already; any word is a good hash.
    public override int GetHashCode() => (int)_a ^ (int)(_a >> 32);

    public int CompareTo(BlobDigest other)
    {
        var c = _a.CompareTo(other._a);
        if (c != 0) return c;
        c = _b.CompareTo(other._b);
        if (c != 0) return c;
        c = _c.CompareTo(other._c);
        return c != 0 ? c : _d.CompareTo(other._d);
    }

    public static bool operator ==(BlobDigest left, BlobDigest right) => left.Equals(right);
    public static bool operator !=(BlobDigest left, BlobDigest right) => !left.Equals(right);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowWrongLength(int length) =>
        throw new ArgumentException($"a SHA-256 digest has {ByteLength} bytes, not {length}");
}
