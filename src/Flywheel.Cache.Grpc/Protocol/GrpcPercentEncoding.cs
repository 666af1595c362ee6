using System.Buffers;
using System.Text;

namespace Flywheel.Cache.Grpc.Protocol;

/// <summary>
/// The percent-encoding of <c>grpc-message</c>: the message's UTF-8 bytes, with every byte outside
/// 0x20..0x7E and '%' itself written as %XX.
/// </summary>
public static class GrpcPercentEncoding
{
    /// <summary>
    /// The longest status message sent, in characters: the message travels in a trailer, and one that outgrows the
    /// peer's header list limit (a message quoting a 100 KB instance name did) ends the connection instead of the call.
    /// </summary>
    public const int MaxMessageLength = 1024;

    private const string Hex = "0123456789ABCDEF";

    /// <summary>Encodes a status message, cut to <see cref="MaxMessageLength"/> characters.</summary>
    public static string Encode(string message)
    {
        if (message.Length > MaxMessageLength)
        {
            message = string.Concat(message.AsSpan(0, MaxMessageLength), "…");
        }

        bool plain = true;
        foreach (char c in message)
        {
            if (c is < ' ' or > '~' or '%')
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return message;
        }

        byte[] utf8 = Encoding.UTF8.GetBytes(message);
        var builder = new StringBuilder(utf8.Length * 3);
        foreach (byte b in utf8)
        {
            if (b is < 0x20 or > 0x7E or (byte)'%')
            {
                builder.Append('%').Append(Hex[b >> 4]).Append(Hex[b & 0xF]);
            }
            else
            {
                builder.Append((char)b);
            }
        }

        return builder.ToString();
    }

    /// <summary>Decodes a <c>grpc-message</c>; broken %-sequences are kept as they are, never an error.</summary>
    public static string Decode(string value)
    {
        if (!value.Contains('%'))
        {
            return value;
        }

        byte[] bytes = ArrayPool<byte>.Shared.Rent(value.Length);
        try
        {
            int count = 0;
            for (int i = 0; i < value.Length; i++)
            {
                char c = value[i];
                if (c == '%' && i + 2 < value.Length
                    && IsHex(value[i + 1]) && IsHex(value[i + 2]))
                {
                    bytes[count++] = (byte)((HexValue(value[i + 1]) << 4) | HexValue(value[i + 2]));
                    i += 2;
                }
                else if (c <= 0x7F)
                {
                    bytes[count++] = (byte)c;
                }
                else
                {
                    // Not valid in a header value; keep it as UTF-8 rather than dropping it.
                    string s = c.ToString();
                    int n = Encoding.UTF8.GetByteCount(s);
                    if (count + n > bytes.Length)
                    {
                        return value;
                    }

                    count += Encoding.UTF8.GetBytes(s, bytes.AsSpan(count));
                }
            }

            return Encoding.UTF8.GetString(bytes, 0, count);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F');

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
