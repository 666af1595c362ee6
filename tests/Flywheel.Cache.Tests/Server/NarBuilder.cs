using System.Buffers.Binary;
using System.Text;

namespace Flywheel.Cache.Tests.Server;

/// <summary>Writes small NAR archives (Nix's archive format) for tests: a single regular file.</summary>
public static class NarBuilder
{
    public static byte[] RegularFile(byte[] contents, bool executable = false)
    {
        using var nar = new MemoryStream();
        Str(nar, "nix-archive-1");
        Str(nar, "(");
        Str(nar, "type");
        Str(nar, "regular");
        if (executable)
        {
            Str(nar, "executable");
            Str(nar, "");
        }

        Str(nar, "contents");
        Bytes(nar, contents);
        Str(nar, ")");
        return nar.ToArray();
    }

    public static byte[] RegularFile(string contents) => RegularFile(Encoding.UTF8.GetBytes(contents));

    /// <summary>A NAR string: little-endian length, the bytes, zero padding to 8.</summary>
    internal static void Str(Stream s, string value) => Bytes(s, Encoding.UTF8.GetBytes(value));

    internal static void Bytes(Stream s, byte[] value)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)value.Length);
        s.Write(length);
        s.Write(value);
        var pad = (8 - (value.Length % 8)) % 8;
        s.Write(new byte[pad]);
    }
}
