namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// The one way a test finds a real component it drives (nix, bazel, PostgreSQL, s3rver, skopeo, docker-registry,
/// nginx, compressors). A missing component fails the test that needs it, in CI and on a developer's machine alike,
/// with a message naming the component and how to install it; a test never returns early or passes without it.
/// (A machine property that cannot exist everywhere, such as a writable cgroup, is a visible skip instead:
/// <c>CgroupFactAttribute</c>.)
/// </summary>
public static class RequiredComponent
{
    /// <summary>The README's test command, which installs everything the tests need.</summary>
    public const string TestCommand = "scripts/test.sh";

    /// <summary>The full path of <paramref name="program"/> on PATH (or in <paramref name="alsoIn"/>), else <see cref="MissingComponentException"/>.</summary>
    public static string Program(string program, string debianPackage, params string[] alsoIn) =>
        FindOnPath(program) ?? alsoIn.Select(dir => Path.Combine(dir, program)).FirstOrDefault(System.IO.File.Exists)
        ?? throw Missing($"{program} (not on PATH)", $"the Debian package {debianPackage} (apt-get install {debianPackage})");

    /// <summary><paramref name="path"/> when the file exists, else <see cref="MissingComponentException"/>.</summary>
    public static string FileAt(string path, string what, string install) =>
        System.IO.File.Exists(path) ? path : throw Missing($"{what} ({path})", install);

    /// <summary>The exception for a component that is not there: what is missing, how to get it, and the command that installs everything.</summary>
    public static MissingComponentException Missing(string component, string install) =>
        new($"This test needs {component}, which is missing on this machine. Install {install}; {TestCommand} installs every component the tests need.");

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, program))
        .FirstOrDefault(System.IO.File.Exists);
}

/// <summary>A real component a test needs is not installed: the test fails with this, never passes.</summary>
public sealed class MissingComponentException(string message) : Exception(message);
