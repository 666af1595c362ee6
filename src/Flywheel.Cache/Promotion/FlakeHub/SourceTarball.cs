using System.IO.Compression;
using System.Security.Cryptography;

namespace Flywheel.Cache.Promotion.FlakeHub;

/// <summary>
/// A flake release's tarball as flakehub-push makes it: gzip'd tar of the flake's source as Nix copied it to the store,
/// under one top directory (<see cref="InspectedFlake.TopDirectory"/>), entries sorted by name, owner and group 0,
/// every mtime the flake's <c>lastModified</c>, symlinks kept. The same source gives the same bytes.
/// </summary>
public static class SourceTarball
{
    /// <summary>Writes the tarball to <paramref name="file"/> (a new file) and returns its length and SHA-256.</summary>
    public static async Task<(long Length, byte[] Sha256)> WriteAsync(InspectedFlake flake, string file, CancellationToken ct)
    {
        await using (var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
        {
            await using (var gzip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true))
            {
                var tar = new TarballWriter(gzip, DateTimeOffset.FromUnixTimeSeconds(flake.LastModified), TarStyle.Release);
                await tar.DirectoryTreeAsync(flake.StoreCopy, flake.TopDirectory, ct).ConfigureAwait(false);
                await tar.FinishAsync(ct).ConfigureAwait(false);
            }
        }

        await using var read = File.OpenRead(file);
        return (read.Length, await SHA256.HashDataAsync(read, ct).ConfigureAwait(false));
    }
}
