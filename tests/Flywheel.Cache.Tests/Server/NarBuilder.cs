using System.Buffers.Binary;
using System.Text;

namespace Flywheel.Cache.Tests.Server;

/// <summary>Writes small NAR archives (Nix's archive format) for tests: a single regular file, or a directory tree.</summary>
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

    /// <summary>A file or symlink of a <see cref="Directory"/> tree: contents (and executable), or a symlink target.</summary>
    public sealed record Node(byte[]? Contents, bool Executable = false, string? Target = null)
    {
        public static Node File(string contents, bool executable = false) => new(Encoding.UTF8.GetBytes(contents), executable);

        public static Node File(byte[] contents) => new(contents);

        public static Node Symlink(string target) => new(null, false, target);
    }

    /// <summary>A directory holding these files and symlinks ('/'-separated paths; the directories between are implied).</summary>
    public static byte[] Directory(IReadOnlyDictionary<string, Node> files)
    {
        using var nar = new MemoryStream();
        Str(nar, "nix-archive-1");
        WriteDirectory(nar, files.Select(f => (f.Key.Split('/'), f.Value)).ToList());
        return nar.ToArray();
    }

    private static void WriteDirectory(Stream nar, List<(string[] Parts, Node Node)> entries)
    {
        Str(nar, "(");
        Str(nar, "type");
        Str(nar, "directory");
        foreach (var group in entries.GroupBy(e => e.Parts[0]).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Str(nar, "entry");
            Str(nar, "(");
            Str(nar, "name");
            Str(nar, group.Key);
            Str(nar, "node");
            if (group.Count() == 1 && group.Single().Parts.Length == 1)
            {
                WriteNode(nar, group.Single().Node);
            }
            else
            {
                WriteDirectory(nar, group.Select(e => (e.Parts[1..], e.Node)).ToList());
            }

            Str(nar, ")");
        }

        Str(nar, ")");
    }

    private static void WriteNode(Stream nar, Node node)
    {
        Str(nar, "(");
        Str(nar, "type");
        if (node.Target is not null)
        {
            Str(nar, "symlink");
            Str(nar, "target");
            Str(nar, node.Target);
        }
        else
        {
            Str(nar, "regular");
            if (node.Executable)
            {
                Str(nar, "executable");
                Str(nar, "");
            }

            Str(nar, "contents");
            Bytes(nar, node.Contents!);
        }

        Str(nar, ")");
    }

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
