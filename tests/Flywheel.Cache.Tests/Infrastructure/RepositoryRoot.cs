namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>The repository's root folder: the nearest folder above the test assembly that holds Flywheel.Cache.sln.</summary>
public static class RepositoryRoot
{
    public static string Folder { get; } = Find();

    private static string Find()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Flywheel.Cache.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no Flywheel.Cache.sln above {AppContext.BaseDirectory}");
    }
}
