using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Flywheel.Cache.Builds;
using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Benchmarks;

/// <summary>A NAR holding one regular file of semi-compressible bytes, and that NAR compressed as Nix would send it.</summary>
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

    /// <summary>
    /// <paramref name="nar"/> compressed: zstd and brotli in process, xz and bzip2 by the command-line tools
    /// (Debian xz-utils and bzip2, which scripts/test.sh installs), since the core only decompresses those.
    /// </summary>
    public static byte[] Compress(byte[] nar, NarCompression compression)
    {
        switch (compression)
        {
            case NarCompression.None:
                return nar;
            case NarCompression.Zstd:
                return ZstdCompressor.CompressAll(nar);
            case NarCompression.Brotli:
                using (var output = new MemoryStream())
                {
                    using (var brotli = new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true))
                    {
                        brotli.Write(nar);
                    }

                    return output.ToArray();
                }

            case NarCompression.Xz:
                return CompressWithTool("xz", nar);
            case NarCompression.Bzip2:
                return CompressWithTool("bzip2", nar);
            default:
                throw new ArgumentOutOfRangeException(nameof(compression), compression, null);
        }
    }

    private static byte[] CompressWithTool(string tool, byte[] input)
    {
        using var output = new MemoryStream();
        var command = new ProcessCommand(tool, ["-c", "-1"], TimeSpan.FromMinutes(5)) { StandardInput = input, StandardOutputStream = output };
        var result = new ProcessRunner().RunAsync(command, null, null, CancellationToken.None).GetAwaiter().GetResult();
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"{tool} exited with {result.ExitCode}" + (result.TimedOut ? " (timed out)" : ""));
        }

        return output.ToArray();
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
