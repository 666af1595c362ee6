using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Flywheel.Cache.Promotion.FlakeHub;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>
/// A FlakeHub release's tarball from a flake source directory: one top directory, entries sorted by name depth first,
/// owner and group 0, every mtime the flake's lastModified, symlinks kept as links, executables 0755; built twice, the
/// same bytes.
/// </summary>
public sealed class SourceTarballTests : IDisposable
{
    private const long LastModified = 1_700_000_000;
    private readonly string _root = Directory.CreateTempSubdirectory("flywheel-source-tarball-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private InspectedFlake Flake(string source, string top) =>
        new(source, source, top, "{}", new JsonObject(), LastModified, new JsonObject(), []);

    private string Source()
    {
        var source = Path.Combine(_root, "abcd-source");
        Directory.CreateDirectory(Path.Combine(source, "sub", "deeper"));
        File.WriteAllText(Path.Combine(source, "flake.nix"), "{ outputs = { self }: { }; }\n");
        File.WriteAllText(Path.Combine(source, "b.txt"), "b\n");
        File.WriteAllText(Path.Combine(source, "sub", "run.sh"), "#!/bin/sh\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(source, "sub", "run.sh"), (UnixFileMode)0x1ED);
        }

        File.WriteAllText(Path.Combine(source, "sub", "deeper", "z"), "z");
        File.CreateSymbolicLink(Path.Combine(source, "a-link"), "flake.nix");
        return source;
    }

    [Fact]
    public async Task The_tarball_is_the_source_under_one_top_directory_sorted_owned_by_root_at_last_modified_with_symlinks_kept()
    {
        var source = Source();
        var file = Path.Combine(_root, "release.tar.gz");

        var (length, sha256) = await SourceTarball.WriteAsync(Flake(source, "myflake"), file, CancellationToken.None);

        var bytes = await File.ReadAllBytesAsync(file);
        Assert.Equal(bytes.Length, length);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(bytes), sha256);
        using var tar = new TarReader(new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress));
        var entries = new List<TarEntry>();
        while (tar.GetNextEntry() is { } entry)
        {
            entries.Add(entry);
        }

        Assert.Equal(
            ["myflake/", "myflake/a-link", "myflake/b.txt", "myflake/flake.nix", "myflake/sub/", "myflake/sub/deeper/", "myflake/sub/deeper/z", "myflake/sub/run.sh"],
            entries.Select(e => e.Name));
        Assert.All(entries, e =>
        {
            Assert.Equal(0, e.Uid);
            Assert.Equal(0, e.Gid);
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(LastModified), e.ModificationTime);
        });
        var link = entries.Single(e => e.Name == "myflake/a-link");
        Assert.Equal(TarEntryType.SymbolicLink, link.EntryType);
        Assert.Equal("flake.nix", link.LinkName);
        Assert.Equal((UnixFileMode)0x1ED, entries.Single(e => e.Name == "myflake/sub/run.sh").Mode);
        Assert.Equal((UnixFileMode)0x1A4, entries.Single(e => e.Name == "myflake/b.txt").Mode);
    }

    [Fact]
    public async Task The_same_source_built_twice_gives_the_same_bytes()
    {
        var source = Source();
        var first = Path.Combine(_root, "first.tar.gz");
        var second = Path.Combine(_root, "second.tar.gz");

        await SourceTarball.WriteAsync(Flake(source, "abcd-source"), first, CancellationToken.None);
        File.SetLastWriteTimeUtc(Path.Combine(source, "b.txt"), DateTime.UtcNow.AddDays(-3)); // file times never reach the tarball
        await SourceTarball.WriteAsync(Flake(source, "abcd-source"), second, CancellationToken.None);

        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));
    }
}
