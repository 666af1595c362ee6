using System.Diagnostics;

namespace Flywheel.Cache.Storage;

/// <summary>
/// Fault injection for the crash tests of the write path's ordering: with <c>FLYWHEEL_CRASH_AT=&lt;point&gt;</c> in its
/// environment the daemon kills itself with SIGKILL (as <c>kill -9</c> would: no shutdown code, no flush) the first
/// time it reaches that point. Unset (always, outside those tests) this is one comparison with null.
/// </summary>
public static class CrashPoints
{
    public const string EnvironmentVariable = "FLYWHEEL_CRASH_AT";

    /// <summary>A NAR's blob is durable under its final name; the index has no row for it yet.</summary>
    public const string NarBlobPublished = "nar-blob-published";

    private static readonly string? Armed = Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } v ? v : null;

    public static void Reach(string point)
    {
        if (Armed is not null && string.Equals(Armed, point, StringComparison.Ordinal))
        {
            Process.GetCurrentProcess().Kill(); // SIGKILL on Unix
        }
    }
}
