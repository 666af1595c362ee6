namespace Flywheel.Cache.Grpc.Protocol;

/// <summary>Base64 values of "-bin" metadata: emitted unpadded, accepted padded or unpadded.</summary>
public static class GrpcBinaryMetadata
{
    public static string Encode(ReadOnlySpan<byte> value) => Convert.ToBase64String(value).TrimEnd('=');

    /// <summary>
    /// Decodes one "-bin" value. Several values joined with ',' (repeated header) are decoded and
    /// concatenated in order. Returns null when the value is not base64.
    /// </summary>
    public static byte[]? Decode(string value)
    {
        if (value.Contains(','))
        {
            var all = new List<byte>();
            foreach (string part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                byte[]? decoded = DecodeOne(part);
                if (decoded is null)
                {
                    return null;
                }

                all.AddRange(decoded);
            }

            return all.ToArray();
        }

        return DecodeOne(value.Trim());
    }

    private static byte[]? DecodeOne(string value)
    {
        int padding = (4 - (value.Length % 4)) % 4;
        if (padding == 3)
        {
            return null;
        }

        string padded = padding == 0 ? value : value + new string('=', padding);
        try
        {
            return Convert.FromBase64String(padded);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
