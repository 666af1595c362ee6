using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// Starts writeback of a file's dirty pages while more of it is still arriving (Linux sync_file_range(2) with
/// SYNC_FILE_RANGE_WRITE: queue the range for writing, do not wait). A blob is fsynced before it becomes visible;
/// without this the whole blob is written back at that moment, so a 64 MiB upload waited ~45 ms on the disk after
/// its last byte. With it, the disk works while the network delivers and the final fsync waits for the tail.
/// Only a hint: durability still comes from the fsync at commit, and where the call is not available (other
/// systems, file systems that refuse it) the writer simply stops hinting.
/// </summary>
internal static partial class WriteBehind
{
    /// <summary>How much a writer accumulates before it hints: large enough that the hint's own cost is noise.</summary>
    public const long Interval = 8 * 1024 * 1024;

    private const uint SyncFileRangeWrite = 2;

    /// <summary>Queues [offset, offset+length) for writeback; false when this is not supported here.</summary>
    public static bool Start(SafeFileHandle file, long offset, long length)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            return sync_file_range((int)file.DangerousGetHandle(), offset, length, SyncFileRangeWrite) == 0;
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);
}
