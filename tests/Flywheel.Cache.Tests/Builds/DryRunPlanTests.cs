using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Tests.Builds;

public sealed class DryRunPlanTests
{
    [Fact]
    public void Counts_derivations_to_build_and_paths_to_fetch()
    {
        const string text = """
            these 2 derivations will be built:
              /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-top.drv
              /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-leaf.drv
            these 3 paths will be fetched (0.01 MiB download, 0.05 MiB unpacked):
              /nix/store/cccccccccccccccccccccccccccccccc-a
              /nix/store/dddddddddddddddddddddddddddddddd-b
              /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-c
            warning: something else
              not a path
            """;
        var plan = DryRunPlan.Parse(text);
        Assert.Equal(2, plan.ToBuild.Count);
        Assert.Equal(3, plan.ToFetch.Count);
        Assert.Equal("/nix/store/cccccccccccccccccccccccccccccccc-a", plan.ToFetch[0]);
    }

    [Fact]
    public void Singular_headers_and_nothing_to_do()
    {
        var plan = DryRunPlan.Parse("this derivation will be built:\n  /nix/store/x-a.drv\nthis path will be fetched (0.00 MiB download, 0.00 MiB unpacked):\n  /nix/store/y-b\n");
        Assert.Equal((1, 1), (plan.ToBuild.Count, plan.ToFetch.Count));
        Assert.Equal((0, 0), (DryRunPlan.Parse("").ToBuild.Count, DryRunPlan.Parse("").ToFetch.Count));
    }

    [Theory]
    [InlineData("./default.nix#hello", "./default.nix", "hello", true)]
    [InlineData("/src/pkgs.nix", "/src/pkgs.nix", "", true)]
    [InlineData("github:owner/repo#packages.x86_64-linux.default", "github:owner/repo", "packages.x86_64-linux.default", false)]
    public void Installables_parse(string text, string source, string attribute, bool isFile)
    {
        var i = Installable.Parse(text);
        Assert.Equal((source, attribute, isFile), (i.Source, i.Attribute, i.IsFile));
    }

    [Theory]
    [InlineData("")]
    [InlineData("--option")]
    [InlineData("a.nix#-A")]
    [InlineData("github:owner/repo")]
    [InlineData("a.nix#x\ny")]
    public void Bad_installables_are_invalid(string text) =>
        Assert.Equal(CacheError.Invalid, Assert.Throws<CacheException>(() => Installable.Parse(text)).Error);
}
