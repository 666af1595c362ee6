namespace Flywheel.Cache.Storage.Disk;

/// <summary>
/// When the background rounds of <see cref="GroupSync"/> make published blobs durable: every
/// <see cref="Interval"/> while there is something to sync, at once when <see cref="MaxPendingBytes"/> are waiting.
/// A machine crash loses at most the uploads acknowledged in the last interval (README, "Durability").
/// </summary>
public sealed record DiskSyncOptions(TimeSpan Interval, long MaxPendingBytes)
{
    public static readonly DiskSyncOptions Default = new(TimeSpan.FromMilliseconds(200), 64L * 1024 * 1024);
}
