using Flywheel.Cache.Nix;
using FsCheck;
using FsCheck.Fluent;

namespace Flywheel.Cache.Tests.Nix;

public class StorePathTests
{
    private const string Hash = "jdwb8rldsr28mlrqy0a57id1x2b7n4vg";

    [Fact]
    public void Parses_a_real_store_path()
    {
        var path = StorePath.Parse("/nix/store/" + Hash + "-flywheel-fixture-main-1.0");
        Assert.Equal("/nix/store", path.StoreDir);
        Assert.Equal(Hash, path.HashPart);
        Assert.Equal("flywheel-fixture-main-1.0", path.Name);
        Assert.Equal(Hash + "-flywheel-fixture-main-1.0", path.BaseName);
        Assert.Equal("/nix/store/" + Hash + "-flywheel-fixture-main-1.0", path.FullPath);
        Assert.Equal(path.FullPath, path.ToString());
    }

    [Fact]
    public void Parses_in_another_store_dir_and_from_a_base_name()
    {
        var path = StorePath.Parse("/gnu/store/" + Hash + "-x", "/gnu/store/");
        Assert.Equal("/gnu/store", path.StoreDir);
        Assert.Equal(path, StorePath.FromBaseName(Hash + "-x", "/gnu/store"));
        Assert.NotEqual(path, StorePath.FromBaseName(Hash + "-x"));
    }

    [Fact]
    public void Round_trips_any_valid_path() =>
        Prop.ForAll(NixGen.BaseName.ToArbitrary(), baseName =>
        {
            var full = "/nix/store/" + baseName;
            var path = StorePath.Parse(full);
            return path.FullPath == full && path.BaseName == baseName
                && path.HashPart + "-" + path.Name == baseName
                && StorePath.IsValidHashPart(path.HashPart) && StorePath.IsValidName(path.Name)
                && StorePath.FromBaseName(baseName).Equals(path);
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("/nix/store/" + Hash + "-", "the name is empty")]
    [InlineData("/nix/store/" + Hash + "-.hidden", "starts with a period")]
    [InlineData("/nix/store/" + Hash + "-a b", "forbidden character ' '")]
    [InlineData("/nix/store/" + Hash + "-a/b", "forbidden character '/'")]
    [InlineData("/nix/store/" + Hash + "-caf\u00e9", "forbidden character")]
    [InlineData("/nix/store/" + Hash, "expected <32-character hash>-<name>")]
    [InlineData("/nix/store/" + Hash + "_name", "expected <32-character hash>-<name>")]
    [InlineData("/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-name", "not 32 nix32 characters")]
    [InlineData("/nix/store/jdwb8rldsr28mlrqy0a57id1x2b7n4v-name", "expected <32-character hash>-<name>")]
    [InlineData("/nix/other/" + Hash + "-name", "is not in the Nix store /nix/store")]
    [InlineData("/nix/store", "is not in the Nix store")]
    [InlineData("/nix/store/", "is not in the Nix store")]
    [InlineData("nix/store/" + Hash + "-name", "is not in the Nix store")]
    [InlineData("/nix/storex/" + Hash + "-name", "is not in the Nix store")]
    public void Rejects_bad_paths_naming_the_problem(string text, string expected)
    {
        var ex = Assert.Throws<CacheException>(() => StorePath.Parse(text));
        Assert.Equal(CacheError.Invalid, ex.Error);
        Assert.Contains(expected, ex.Message);
        Assert.False(StorePath.TryParse(text, out _));
    }

    [Fact]
    public void Name_length_limit_is_211()
    {
        Assert.True(StorePath.IsValidName(new string('a', 211)));
        Assert.False(StorePath.IsValidName(new string('a', 212)));
        Assert.False(StorePath.IsValidName(""));
        var ex = Assert.Throws<CacheException>(() => StorePath.FromBaseName(Hash + "-" + new string('a', 212)));
        Assert.Contains("longer than 211", ex.Message);
    }

    [Theory]
    [InlineData("jdwb8rldsr28mlrqy0a57id1x2b7n4vg", true)]
    [InlineData("jdwb8rldsr28mlrqy0a57id1x2b7n4v", false)]
    [InlineData("jdwb8rldsr28mlrqy0a57id1x2b7n4vgg", false)]
    [InlineData("jdwb8rldsr28mlrqy0a57id1x2b7n4vE", false)]
    [InlineData("jdwb8rldsr28mlrqy0a57id1x2b7n4ve", false)]
    [InlineData("", false)]
    public void Validates_hash_parts(string text, bool valid) => Assert.Equal(valid, StorePath.IsValidHashPart(text));

    [Theory]
    [InlineData("hello-2.12", true)]
    [InlineData("a+b-c._?=", true)]
    [InlineData("-dash-first", true)]
    [InlineData(".dot-first", false)]
    [InlineData("with space", false)]
    [InlineData("with:colon", false)]
    public void Validates_names_as_Nix_does(string name, bool valid) => Assert.Equal(valid, StorePath.IsValidName(name));
}
