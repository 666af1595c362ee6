using System.Text;
using Flywheel.Cache.Server.Cli;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>Registry credentials from the containers auth file: the most specific key covering the repository wins.</summary>
public sealed class RegistryAuthFileTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), "flywheel-auth-" + Guid.NewGuid().ToString("N") + ".json");

    public void Dispose() => File.Delete(_file);

    private static string Auth(string value) => Convert.ToBase64String(Encoding.UTF8.GetBytes(value));

    [Fact]
    public void The_most_specific_key_covering_the_repository_wins()
    {
        File.WriteAllText(_file, $$$"""
            {"auths": {
              "127.0.0.1:5000": {"auth": "{{{Auth("host:pw1")}}}"},
              "127.0.0.1:5000/team": {"auth": "{{{Auth("team:pw:with:colons")}}}"},
              "https://ghcr.io/": {"auth": "{{{Auth("gh:pw3")}}}"}
            }}
            """);

        Assert.Equal(("team", "pw:with:colons"), RegistryAuthFile.Find(_file, "127.0.0.1:5000", "team/app"));
        Assert.Equal(("host", "pw1"), RegistryAuthFile.Find(_file, "127.0.0.1:5000", "other/app"));
        Assert.Equal(("gh", "pw3"), RegistryAuthFile.Find(_file, "ghcr.io", "org/app"));
        Assert.Null(RegistryAuthFile.Find(_file, "127.0.0.1:5001", "team/app"));
        Assert.Null(RegistryAuthFile.Find(_file + ".missing", "127.0.0.1:5000", "team/app"));
    }

    [Fact]
    public void A_broken_file_is_an_error_that_names_it()
    {
        File.WriteAllText(_file, """{"auths": {"r:1": {"auth": "bm9jb2xvbg=="}}}""");
        var error = Assert.Throws<CacheException>(() => RegistryAuthFile.Find(_file, "r:1", "a"));
        Assert.Contains(_file, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("nocolon", error.Message, StringComparison.Ordinal); // the credentials are never shown
    }
}
