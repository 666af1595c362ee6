using Flywheel.Cache.Caches;

namespace Flywheel.Cache.Tests.Caches;

public sealed class CachePinsTests
{
    private const string Hash = "0c5z0pwpbkxlpzd8b9a6xhfkzqvmmxkv";

    [Theory]
    [InlineData("/nix/store/" + Hash + "-hello-2.12")]
    [InlineData(Hash + "-hello-2.12")]
    [InlineData(Hash)]
    public void A_pin_names_a_path_by_full_path_base_name_or_hash(string text) =>
        Assert.Equal(Hash, CachePins.HashPartOf(text, "/nix/store"));

    [Theory]
    [InlineData("/gnu/store/" + Hash + "-hello")]
    [InlineData("/nix/store/../etc/passwd")]
    [InlineData(Hash + "e")]
    [InlineData("0c5z0pwpbkxlpzd8b9a6xhfkzqvmmxk!")]
    [InlineData("")]
    public void Anything_else_is_invalid(string text) =>
        Assert.Equal(CacheError.Invalid, Assert.Throws<CacheException>(() => CachePins.HashPartOf(text, "/nix/store")).Error);
}
