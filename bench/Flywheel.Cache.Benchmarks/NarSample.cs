using System.Buffers.Binary;
using System.Text;

namespace Flywheel.Cache.Benchmarks;

/// <summary>A NAR holding one regular file of semi-compressible bytes.</summary>
internal static class NarSample
{
    public static byte[] Create(int contentLength)
    {
        var contents = new byte[contentLength];
        var random = new Random(42);
        for (var i = 0; i < contents.Length; i += 64)
        {
            contents[i] = (byte)random.Next(); // mostly zeros with noise: compresses like typical binaries
        }

        using var nar = new MemoryStream();
        foreach (var s in new[] { "nix-archive-1", "(", "type", "regular", "contents" })
        {
            Write(nar, Encoding.ASCII.GetBytes(s));
        }

        Write(nar, contents);
        Write(nar, Encoding.ASCII.GetBytes(")"));
        return nar.ToArray();
    }

    private static void Write(Stream s, byte[] value)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)value.Length);
        s.Write(length);
        s.Write(value);
        s.Write(new byte[(8 - (value.Length % 8)) % 8]);
    }
}
