using System.Runtime.CompilerServices;

namespace Flywheel.Cache.Nix;

/// <summary>
/// Nix's base-32 encoding (alphabet without e, o, u, t). Nix reads the bytes as one little-endian number,
/// takes 5 bits at a time from the least significant end, and prints the digits from the most significant
/// one, so the first character holds the top bits. 32 bytes are 52 characters, 20 bytes are 32.
/// </summary>
public static class NixBase32
{
    public const string Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

    // Character → digit, -1 for characters outside the alphabet (indexes 0..127).
    private static ReadOnlySpan<sbyte> Digits =>
    [
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        // `    a   b   c   d   e   f   g   h   i   j   k   l   m   n   o
        -1, 10, 11, 12, 13, -1, 14, 15, 16, 17, 18, 19, 20, 21, 22, -1,
        // p    q   r   s   t   u   v   w   x   y   z
        23, 24, 25, 26, -1, -1, 27, 28, 29, 30, 31, -1, -1, -1, -1, -1,
    ];

    /// <summary>The number of characters that encode <paramref name="byteCount"/> bytes.</summary>
    public static int EncodedLength(int byteCount) => byteCount == 0 ? 0 : ((byteCount * 8) - 1) / 5 + 1;

    /// <summary>The number of bytes that <paramref name="charCount"/> characters decode to (floor).</summary>
    public static int DecodedLength(int charCount) => charCount * 5 / 8;

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var length = EncodedLength(bytes.Length);
        if (length == 0)
        {
            return string.Empty;
        }

        Span<char> chars = length <= 256 ? stackalloc char[length] : new char[length];
        Encode(bytes, chars);
        return new string(chars);
    }

    /// <summary>Writes exactly <see cref="EncodedLength"/> characters into <paramref name="destination"/>.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        var length = EncodedLength(bytes.Length);
        if (destination.Length < length)
        {
            ThrowDestinationTooSmall();
        }

        var alphabet = Alphabet;
        for (var n = length - 1; n >= 0; n--)
        {
            var b = n * 5;
            var i = b >> 3;
            var j = b & 7;
            var c = bytes[i] >> j;
            if (i + 1 < bytes.Length)
            {
                c |= bytes[i + 1] << (8 - j);
            }

            destination[length - 1 - n] = alphabet[c & 0x1f];
        }
    }

    /// <summary>
    /// Decodes <paramref name="text"/> into exactly <paramref name="destination"/>.Length bytes. False when the
    /// length does not match, a character is outside the alphabet, or the text encodes bits beyond the bytes.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> destination)
    {
        if (text.Length != EncodedLength(destination.Length))
        {
            return false;
        }

        destination.Clear();
        var digits = Digits;
        for (var n = 0; n < text.Length; n++)
        {
            var ch = text[text.Length - 1 - n];
            if (ch >= 128 || digits[ch] < 0)
            {
                return false;
            }

            var digit = digits[ch];
            var b = n * 5;
            var i = b >> 3;
            var j = b & 7;
            destination[i] |= (byte)(digit << j);
            var carry = digit >> (8 - j);
            if (i + 1 < destination.Length)
            {
                destination[i + 1] |= (byte)carry;
            }
            else if (carry != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when every character is in the alphabet (any length).</summary>
    public static bool IsValid(ReadOnlySpan<char> text)
    {
        var digits = Digits;
        foreach (var ch in text)
        {
            if (ch >= 128 || digits[ch] < 0)
            {
                return false;
            }
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsDigit(char ch) => ch < 128 && Digits[ch] >= 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDestinationTooSmall() =>
        throw new ArgumentException("destination is too small for the encoded text", "destination");
}
