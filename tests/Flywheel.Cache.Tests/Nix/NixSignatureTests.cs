using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>Our Ed25519 signing against keys and signatures made by real Nix 2.8 (Fixtures/generate.sh).</summary>
public class NixSignatureTests
{
    [Fact]
    public void Parses_Nix_s_key_pair()
    {
        var secret = NixSigningKey.Parse(NixFixtures.SecretKey);
        var pub = NixPublicKey.Parse(NixFixtures.PublicKey);
        Assert.Equal("test-1", secret.Name);
        Assert.Equal(pub, secret.PublicKey);
        Assert.Equal(NixFixtures.PublicKey, secret.PublicKey.ToString());
        Assert.Equal(NixFixtures.SecretKey, secret.ToString());
    }

    [Fact]
    public void Verifies_every_signature_real_Nix_made()
    {
        var pub = NixPublicKey.Parse(NixFixtures.PublicKey);
        var count = 0;
        foreach (var (path, text) in NixFixtures.AllNarInfos())
        {
            var info = NarInfo.Parse(text);
            Assert.NotEmpty(info.Sigs);
            foreach (var sig in info.Sigs)
            {
                Assert.True(pub.Verify(info.Fingerprint(), sig), path);
                count++;
            }

            Assert.True(info.IsSignedByAny([pub]));
        }

        Assert.Equal(15, count);
    }

    [Fact]
    public void Signs_exactly_as_real_Nix_does()
    {
        var key = NixSigningKey.Parse(NixFixtures.SecretKey);
        foreach (var (path, text) in NixFixtures.AllNarInfos())
        {
            var info = NarInfo.Parse(text);
            Assert.True(info.Sigs.Single() == key.Sign(info.Fingerprint()), path);
            var copy = NarInfo.Parse(text);
            copy.Sign(key);
            Assert.Equal(info.Sigs, copy.Sigs);
        }
    }

    [Fact]
    public void Accepts_a_bare_32_byte_seed()
    {
        var key = NixSigningKey.Parse(NixFixtures.SecretKey);
        var seed = Convert.FromBase64String(NixFixtures.SecretKey.Split(':')[1])[..32];
        var fromSeed = NixSigningKey.Parse("test-1:" + Convert.ToBase64String(seed));
        Assert.Equal(key.PublicKey, fromSeed.PublicKey);
        Assert.Equal(key.ToString(), fromSeed.ToString());
    }

    [Fact]
    public void Rejects_tampered_or_foreign_signatures_without_throwing()
    {
        var pub = NixPublicKey.Parse(NixFixtures.PublicKey);
        var (_, text) = NixFixtures.AllNarInfos().First();
        var info = NarInfo.Parse(text);
        var fp = info.Fingerprint();
        var sig = info.Sigs.Single();

        Assert.False(pub.Verify(fp + "x", sig));
        Assert.False(pub.Verify(fp, "test-2" + sig["test-1".Length..]));
        var raw = Convert.FromBase64String(sig["test-1:".Length..]);
        raw[5] ^= 1;
        Assert.False(pub.Verify(fp, "test-1:" + Convert.ToBase64String(raw)));
        foreach (var garbage in new[] { "", ":", "test-1", "test-1:", "test-1:!!!", "test-1:AAAA", "test-1:" + new string('A', 88), "test-1:" + new string('/', 86) + "==" })
        {
            Assert.False(pub.Verify(fp, garbage));
        }

        var other = NixSigningKey.Generate("test-1");
        Assert.False(pub.Verify(fp, other.Sign(fp)));
        Assert.True(other.PublicKey.Verify(fp, other.Sign(fp)));
        Assert.False(info.IsSignedByAny([other.PublicKey]));
    }

    [Fact]
    public void Generated_keys_round_trip_through_their_text()
    {
        var key = NixSigningKey.Generate("cache.example.org-1");
        var again = NixSigningKey.Parse(key.ToString());
        Assert.Equal(key.PublicKey, again.PublicKey);
        Assert.Equal(key.PublicKey, NixPublicKey.Parse(key.PublicKey.ToString()));
        Assert.Equal(key.Sign("hello"), again.Sign("hello"));
        Assert.StartsWith("cache.example.org-1:", key.Sign("hello"));
    }

    [Theory]
    [InlineData("no-colon", "not '<name>:<base64>'")]
    [InlineData(":AAAA", "empty name")]
    [InlineData("k:not base64!", "not valid base64")]
    [InlineData("k:AAAA", "has 3 bytes")]
    public void Rejects_bad_secret_keys_without_echoing_them(string text, string expected)
    {
        var ex = Assert.Throws<CacheException>(() => NixSigningKey.Parse(text));
        Assert.Equal(CacheError.Invalid, ex.Error);
        Assert.Contains(expected, ex.Message);
        Assert.DoesNotContain(text.Split(':').Last(), ex.Message.Replace("'k'", ""));
    }

    [Fact]
    public void Rejects_a_secret_key_whose_public_half_does_not_match()
    {
        var bytes = Convert.FromBase64String(NixFixtures.SecretKey.Split(':')[1]);
        bytes[40] ^= 1;
        var ex = Assert.Throws<CacheException>(() => NixSigningKey.Parse("test-1:" + Convert.ToBase64String(bytes)));
        Assert.Contains("does not match", ex.Message);
    }

    [Theory]
    [InlineData("no-colon", "not '<name>:<base64>'")]
    [InlineData("k:AAAA", "has 3 bytes")]
    [InlineData("k:%%", "not valid base64")]
    public void Rejects_bad_public_keys(string text, string expected)
    {
        var ex = Assert.Throws<CacheException>(() => NixPublicKey.Parse(text));
        Assert.Contains(expected, ex.Message);
    }
}
