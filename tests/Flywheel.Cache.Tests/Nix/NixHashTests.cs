using Flywheel.Cache.Nix;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Tests.Nix;

public class NixHashTests
{
    private const string EmptyNix32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
    private const string EmptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    private const string EmptyBase64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    [Theory]
    [InlineData("sha256:" + EmptyNix32)]
    [InlineData("sha256:" + EmptyHex)]
    [InlineData("sha256:" + EmptyBase64)]
    [InlineData("sha256-" + EmptyBase64)]
    public void Parses_every_form_Nix_writes(string text)
    {
        var hash = NixHash.Parse(text);
        Assert.Equal(BlobDigest.Empty, hash.Digest);
        Assert.Equal("sha256:" + EmptyNix32, hash.ToString());
        Assert.Equal("sha256-" + EmptyBase64, hash.ToSri());
        Assert.Equal(EmptyNix32, hash.ToNix32());
        Assert.Equal(hash, NixHash.FromDigest(BlobDigest.Empty));
    }

    [Theory]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported hash algorithm md5")]
    [InlineData("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==", "unsupported hash algorithm sha512")]
    [InlineData("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "unsupported hash algorithm sha1")]
    [InlineData("sha256:abc", "has length 3")]
    [InlineData("sha256:" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85x", "not a valid sha256 hash")]
    [InlineData("sha256:" + "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e", "not a valid sha256 hash")]
    [InlineData("sha256-" + EmptyHex, "not a valid sha256 hash")]
    [InlineData(EmptyNix32, "is not a hash")]
    [InlineData("", "is not a hash")]
    public void Rejects_bad_hashes_naming_the_problem(string text, string expected)
    {
        var ex = Assert.Throws<CacheException>(() => NixHash.Parse(text));
        Assert.Equal(CacheError.Invalid, ex.Error);
        Assert.Contains(expected, ex.Message);
        Assert.False(NixHash.TryParse(text, out _));
    }
}
