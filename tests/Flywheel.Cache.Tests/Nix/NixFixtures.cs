using System.Runtime.CompilerServices;
using Flywheel.Cache.Compression;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>
/// The files that real Nix produced (see Fixtures/generate.sh), read from the source tree next to this file.
/// </summary>
internal static class NixFixtures
{
    public static readonly NarCompression[] AllCompressions =
        [NarCompression.None, NarCompression.Xz, NarCompression.Zstd, NarCompression.Brotli, NarCompression.Bzip2];

    public static string Directory => Path.Combine(ThisDirectory(), "Fixtures");

    public static string SecretKey => File.ReadAllText(Path.Combine(Directory, "test-1.secret")).Trim();

    public static string PublicKey => File.ReadAllText(Path.Combine(Directory, "test-1.public")).Trim();

    public static string CacheDir(NarCompression compression) =>
        Path.Combine(Directory, "cache-" + compression.ToNarInfoName());

    /// <summary>Every narinfo file of a cache, with its text.</summary>
    public static IEnumerable<(string Path, string Text)> NarInfos(NarCompression compression) =>
        System.IO.Directory.GetFiles(CacheDir(compression), "*.narinfo").Order(StringComparer.Ordinal)
            .Select(p => (p, File.ReadAllText(p)));

    public static IEnumerable<(string Path, string Text)> AllNarInfos() => AllCompressions.SelectMany(NarInfos);

    public static TheoryData<NarCompression> Compressions()
    {
        var data = new TheoryData<NarCompression>();
        foreach (var c in AllCompressions)
        {
            data.Add(c);
        }

        return data;
    }

    private static string ThisDirectory([CallerFilePath] string path = "") => System.IO.Path.GetDirectoryName(path)!;
}
