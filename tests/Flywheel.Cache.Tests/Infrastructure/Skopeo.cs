using System.Diagnostics;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>Runs Debian's <c>skopeo</c> (inspect, copy) with an empty auth file: never the machine's credentials.</summary>
public static class Skopeo
{
    private static readonly Lazy<string> EmptyAuthFile = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), "flywheel-skopeo-auth.json");
        File.WriteAllText(path, "{}");
        return path;
    });

    /// <summary>Its stdout; an <see cref="InvalidOperationException"/> with its stderr when it fails.</summary>
    public static async Task<string> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo(RequiredComponent.Program("skopeo", "skopeo")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["REGISTRY_AUTH_FILE"] = EmptyAuthFile.Value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start skopeo (install the Debian package skopeo)");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? await stdout : throw new InvalidOperationException($"skopeo {string.Join(' ', args)}: {await stderr}");
    }
}
