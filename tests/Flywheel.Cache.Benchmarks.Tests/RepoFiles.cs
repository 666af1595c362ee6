namespace Flywheel.Cache.Benchmarks.Tests;

internal static class RepoFiles
{
    public static readonly string Root = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(folder.FullName, "Flywheel.Cache.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no Flywheel.Cache.sln above {AppContext.BaseDirectory}");
    }
}
