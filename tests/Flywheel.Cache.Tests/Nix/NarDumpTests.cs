using Flywheel.Cache.Nix;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>
/// <see cref="NarDump"/> (what <c>flywheel push</c> uploads) writes the very bytes real <c>nix-store --dump</c> (Nix 2.8)
/// writes for the same tree: regular, empty and executable files, nested and empty directories, symlinks (to files,
/// directories and nowhere), names whose bytes sort differently from their characters, files across buffer sizes.
/// </summary>
public sealed class NarDumpTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "flywheel-nardump-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_tree_is_dumped_byte_for_byte_as_nix_store_dumps_it()
    {
        var tree = Path.Combine(_root, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "bin"));
        Directory.CreateDirectory(Path.Combine(tree, "share", "empty"));
        File.WriteAllText(Path.Combine(tree, "bin", "tool"), "#!/bin/sh\necho hi\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(tree, "bin", "tool"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        File.WriteAllBytes(Path.Combine(tree, "empty"), []);
        File.WriteAllBytes(Path.Combine(tree, "seven"), "1234567"u8.ToArray());
        File.WriteAllBytes(Path.Combine(tree, "large"), Enumerable.Range(0, 300_001).Select(i => (byte)(i * 7)).ToArray());
        File.WriteAllText(Path.Combine(tree, "Zeta"), "upper case sorts first");
        File.WriteAllText(Path.Combine(tree, "\u00e9t\u00e9"), "two-byte name");
        File.WriteAllText(Path.Combine(tree, "\U0001F600"), "four-byte name");
        File.WriteAllText(Path.Combine(tree, "\uFF21"), "three-byte name");
        File.CreateSymbolicLink(Path.Combine(tree, "link-to-file"), "seven");
        File.CreateSymbolicLink(Path.Combine(tree, "link-to-dir"), "bin");
        File.CreateSymbolicLink(Path.Combine(tree, "dangling"), "/nowhere/at/all");

        foreach (var path in new[] { tree, Path.Combine(tree, "large"), Path.Combine(tree, "bin", "tool"), Path.Combine(tree, "link-to-dir") })
        {
            Assert.Equal(await NixStoreDumpAsync(path), await DumpAsync(path));
        }
    }

    private static async Task<byte[]> DumpAsync(string path)
    {
        using var nar = new MemoryStream();
        await NarDump.WriteAsync(path, nar, CancellationToken.None);
        return nar.ToArray();
    }

    private async Task<byte[]> NixStoreDumpAsync(string path)
    {
        RequiredComponent.Program("nix-store", "nix-bin");
        var file = Path.Combine(_root, "dump-" + Guid.NewGuid().ToString("N"));
        await using (var output = File.Create(file))
        {
            (await TestProcess.Runner.RunAsync(
                TestProcess.Command("nix-store", ["--dump", path]) with { StandardOutputStream = output }, null, null, CancellationToken.None)).EnsureSuccess();
        }

        return await File.ReadAllBytesAsync(file);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
