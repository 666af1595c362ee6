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
        var result = await TestProcess.RunAsync(RequiredComponent.Program("skopeo", "skopeo"), args,
            new Dictionary<string, string?> { ["REGISTRY_AUTH_FILE"] = EmptyAuthFile.Value });
        return result.ExitCode == 0 ? result.StandardOutput : throw new InvalidOperationException($"skopeo {string.Join(' ', args)}: {result.StandardError}");
    }
}
