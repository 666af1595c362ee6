using System.Security.Cryptography;
using Flywheel.Cache.Nix;
using FsCheck;
using FsCheck.Fluent;

namespace Flywheel.Cache.Tests.Nix;

public class NixBase32Tests
{
    [Theory]
    // Checked with: nix hash to-base32 --type sha256 <hex> (Nix 2.8).
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000")]
    public void Encodes_known_sha256_vectors(string hex, string expected)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.Equal(expected, NixBase32.Encode(bytes));
        var decoded = new byte[32];
        Assert.True(NixBase32.TryDecode(expected, decoded));
        Assert.Equal(bytes, decoded);
    }

    [Fact]
    public void Encodes_the_real_narhash_of_a_fixture()
    {
        // cache-none holds the uncompressed NAR under its own hash, so FileHash == NarHash == sha256(file).
        var dir = Path.Combine(NixFixtures.CacheDir(Flywheel.Cache.Compression.NarCompression.None), "nar");
        foreach (var file in Directory.GetFiles(dir, "*.nar"))
        {
            var expected = Path.GetFileNameWithoutExtension(file);
            Assert.Equal(expected, NixBase32.Encode(SHA256.HashData(File.ReadAllBytes(file))));
        }
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 2)]
    [InlineData(20, 32)]
    [InlineData(32, 52)]
    [InlineData(64, 103)]
    public void Encoded_length_matches_nix(int bytes, int chars) => Assert.Equal(chars, NixBase32.EncodedLength(bytes));

    [Fact]
    public void Round_trips_any_bytes() =>
        Prop.ForAll<byte[]>(bytes =>
        {
            var text = NixBase32.Encode(bytes);
            var back = new byte[bytes.Length];
            return text.Length == NixBase32.EncodedLength(bytes.Length)
                && NixBase32.IsValid(text)
                && NixBase32.TryDecode(text, back)
                && back.AsSpan().SequenceEqual(bytes);
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("e")]
    [InlineData("o")]
    [InlineData("u")]
    [InlineData("t")]
    [InlineData("A")]
    [InlineData("-")]
    [InlineData("é")]
    public void Rejects_characters_outside_the_alphabet(string bad)
    {
        var text = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7" + bad;
        Assert.False(NixBase32.IsValid(text));
        Assert.False(NixBase32.TryDecode(text, new byte[32]));
    }

    [Fact]
    public void Rejects_wrong_lengths_and_overflowing_top_digits()
    {
        Assert.False(NixBase32.TryDecode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7", new byte[32]));
        Assert.False(NixBase32.TryDecode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c730", new byte[32]));
        // 52 digits hold 260 bits; a first digit above 0b1111 would need bits beyond the 256.
        Assert.False(NixBase32.TryDecode("zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", new byte[32]));
    }
}
