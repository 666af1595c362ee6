using System.Runtime.InteropServices;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>link(2) from libc: the atomic "create this name only if it does not exist" that publishing a blob needs.</summary>
internal static partial class UnixLinks
{
    private const int EEXIST = 17;
    private const int ENOENT = 2;

    /// <summary>
    /// Links <paramref name="source"/> as <paramref name="target"/>. True when done or when the target existed
    /// (<paramref name="targetExisted"/>); false when links are not possible here (the caller falls back).
    /// Throws <see cref="DirectoryNotFoundException"/> when the target's directory is missing.
    /// </summary>
    public static bool TryLink(string source, string target, out bool targetExisted)
    {
        targetExisted = false;
        if (link(source, target) == 0)
        {
            File.Delete(source); // the blob now lives under its final name; the temporary name goes
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        switch (errno)
        {
            case EEXIST:
                targetExisted = true;
                return true;
            case ENOENT when !Directory.Exists(Path.GetDirectoryName(target)):
                throw new DirectoryNotFoundException($"no directory for {target}");
            default:
                return false; // e.g. EPERM or EXDEV: no hard links on this file system
        }
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string oldpath, string newpath);
}
