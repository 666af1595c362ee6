using Flywheel.Cache.Storage.S3;

namespace Flywheel.Cache.Tests.Storage;

public sealed class S3BlobStoreOptionsTests
{
    private static readonly S3BlobStoreOptions Good = new()
    {
        ServiceUrl = new Uri("http://rustfs:9000"),
        Bucket = "flywheel",
        AccessKey = "AKIAEXAMPLE",
        SecretKey = "very-secret-value",
    };

    [Fact]
    public void Defaults_with_a_bucket_are_valid()
    {
        Good.Validate();
        new S3BlobStoreOptions { Bucket = "abc" }.Validate();
        Assert.Equal(16L << 20, Good.PartSizeBytes);
        Assert.False(Good.PresignDownloads);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("cache", "cache/")]
    [InlineData("cache/", "cache/")]
    [InlineData("team-a/nix_1.0", "team-a/nix_1.0/")]
    public void Prefix_gets_one_trailing_slash(string prefix, string keyPrefix)
    {
        var options = Good with { Prefix = prefix };
        options.Validate();
        Assert.Equal(keyPrefix, options.KeyPrefix);
    }

    [Theory]
    [InlineData("/abs")]
    [InlineData("a//b")]
    [InlineData("a/../b")]
    [InlineData("./a")]
    [InlineData("a b")]
    [InlineData("a?b")]
    [InlineData("//")]
    public void Bad_prefixes_are_refused(string prefix)
    {
        var e = Assert.Throws<ArgumentException>(() => (Good with { Prefix = prefix }).Validate());
        Assert.Contains("Prefix", e.Message);
    }

    [Theory]
    [InlineData("", "Bucket")]
    [InlineData("Upper", "Bucket")]
    [InlineData("ab", "Bucket")]
    [InlineData("-dash", "Bucket")]
    public void Bad_buckets_are_refused(string bucket, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => (Good with { Bucket = bucket }).Validate());
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Other_bad_values_are_each_named()
    {
        var bad = Good with
        {
            ServiceUrl = new Uri("ftp://x"),
            Region = " ",
            SecretKey = null,
            PartSizeBytes = (5 << 20) - 1,
            MaxPartBuffers = 0,
            PresignLifetime = TimeSpan.FromDays(8),
            RequestTimeout = TimeSpan.Zero,
            MaxRetries = -1,
        };

        var e = Assert.Throws<ArgumentException>(bad.Validate);

        foreach (var name in (string[])["ServiceUrl", "Region", "AccessKey and SecretKey", "PartSizeBytes", "MaxPartBuffers", "PresignLifetime", "RequestTimeout", "MaxRetries"])
        {
            Assert.Contains(name, e.Message);
        }
    }

    [Fact]
    public void The_store_refuses_invalid_options()
    {
        Assert.Throws<ArgumentException>(() => new S3BlobStore(Good with { PartSizeBytes = 1 }));
    }

    [Fact]
    public void ToString_never_shows_the_secret_key()
    {
        var text = Good.ToString();

        Assert.DoesNotContain("very-secret-value", text);
        Assert.Contains("SecretKey = ***", text);
        Assert.Contains("flywheel", text);
    }
}
