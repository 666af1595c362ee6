using Flywheel.Cache.Bazel;
using Flywheel.Cache.Storage;
using Digest = Build.Bazel.Remote.Execution.V2.Digest;

namespace Flywheel.Cache.Tests.Bazel;

public sealed class BazelDigestTests
{
    private const string EmptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Fact]
    public void Empty_is_the_sha256_of_nothing_at_size_zero()
    {
        Assert.Equal(EmptyHex, BazelDigest.Empty.Hash.ToHex());
        Assert.Equal(0, BazelDigest.Empty.SizeBytes);
        Assert.True(BazelDigest.Empty.IsEmpty);
        Assert.Equal(BazelDigest.Empty, BazelDigest.Compute([]));
    }

    [Fact]
    public void Round_trips_through_the_proto_and_prints_hash_slash_size()
    {
        var digest = BazelDigest.Compute("hello"u8);

        Assert.Equal(digest, BazelDigest.From(digest.ToProto()));
        Assert.Equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824/5", digest.ToString());
    }

    [Theory]
    [InlineData("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", 0)] // upper case
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", 0)] // 63 digits
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", 0)] // 65 digits
    [InlineData("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0)] // not hex
    [InlineData("", 0)]
    [InlineData(EmptyHex, -1)]
    public void Malformed_digests_are_invalid_and_named(string hash, long size)
    {
        var proto = new Digest { Hash = hash, SizeBytes = size };

        Assert.False(BazelDigest.TryFrom(proto, out _));
        var e = Assert.Throws<CacheException>(() => BazelDigest.From(proto, "stdout_digest"));
        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("stdout_digest", e.Message);
        Assert.Contains($"{hash}/{size}", e.Message);
    }

    [Fact]
    public void A_missing_digest_is_invalid()
    {
        Assert.False(BazelDigest.TryFrom(null, out _));
        Assert.Contains("missing", Assert.Throws<CacheException>(() => BazelDigest.From(null, "tree_digest")).Message);
    }

    [Theory]
    [InlineData("5", true)]
    [InlineData("0", true)]
    [InlineData("9223372036854775807", true)]
    [InlineData("9223372036854775808", false)]
    [InlineData("-1", false)]
    [InlineData("+1", false)]
    [InlineData(" 1", false)]
    [InlineData("", false)]
    [InlineData("1e3", false)]
    public void Sizes_as_text_are_decimal_digits_only(string size, bool valid)
    {
        Assert.Equal(valid, BazelDigest.TryParse(EmptyHex, size, out _));
    }

    [Fact]
    public void Equality_covers_hash_and_size()
    {
        var a = BazelDigest.Compute("a"u8);

        Assert.Equal(a, new BazelDigest(BlobDigest.Compute("a"u8), 1));
        Assert.NotEqual(a, a with { SizeBytes = 2 });
    }
}
