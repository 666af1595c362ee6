using Flywheel.Cache.Server;
using Flywheel.Cache.Server.Hosting;
using Microsoft.Extensions.Configuration;

namespace Flywheel.Cache.Tests.Server;

/// <summary>Configuration is validated at start, every bad value named with its key.</summary>
public sealed class ServerOptionsTests
{
    private static ServerOptions Load(params (string Key, string Value)[] values) =>
        ServerOptions.Load(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build());

    [Fact]
    public void Defaults_are_the_embedded_backends()
    {
        var options = Load();
        Assert.Equal("disk", options.Storage);
        Assert.Equal("sqlite", options.Index);
        Assert.Equal(8080, options.Http.Port);
        Assert.Equal(9092, options.Grpc.Port);
        Assert.Null(options.S3);
        Assert.Null(options.PostgresConnectionString);
    }

    [Fact]
    public void Every_bad_value_is_reported_with_its_key()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Load(
            (ConfigKeys.Http, "nonsense"),
            (ConfigKeys.Storage, "floppy"),
            (ConfigKeys.MaxNarBytes, "-5"),
            (ConfigKeys.NarInfoNegativeTtl, "soon"),
            (ConfigKeys.BazelDefaultInstance, "Not Valid")));
        foreach (var key in new[] { ConfigKeys.Http, ConfigKeys.Storage, ConfigKeys.MaxNarBytes, ConfigKeys.NarInfoNegativeTtl, ConfigKeys.BazelDefaultInstance })
        {
            Assert.Contains(key, error.Message);
        }
    }

    [Fact]
    public void Upstream_settings_have_defaults_and_are_validated()
    {
        var defaults = Load().Upstream;
        var set = Load((ConfigKeys.UpstreamNegativeTtl, "00:00:05"), (ConfigKeys.UpstreamBreakDuration, "00:01:00")).Upstream;
        var error = Assert.Throws<InvalidOperationException>(() => Load((ConfigKeys.UpstreamNegativeTtl, "later"), (ConfigKeys.UpstreamBreakDuration, "00:00:00")));

        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)), (defaults.NegativeTtl, defaults.BreakDuration));
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1)), (set.NegativeTtl, set.BreakDuration));
        Assert.Contains(ConfigKeys.UpstreamNegativeTtl, error.Message, StringComparison.Ordinal);
        Assert.Contains(ConfigKeys.UpstreamBreakDuration, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void S3_and_postgres_need_their_settings()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Load(
            (ConfigKeys.Storage, "s3"), (ConfigKeys.Index, "postgres"), (ConfigKeys.S3Endpoint, "ftp://x"), (ConfigKeys.S3PathStyle, "maybe")));
        Assert.Contains(ConfigKeys.S3Bucket, error.Message);
        Assert.Contains(ConfigKeys.S3Endpoint, error.Message);
        Assert.Contains(ConfigKeys.S3PathStyle, error.Message);
        Assert.Contains(ConfigKeys.Postgres, error.Message);

        var options = Load(
            (ConfigKeys.Storage, "s3"), (ConfigKeys.S3Bucket, "flywheel"), (ConfigKeys.S3Endpoint, "http://127.0.0.1:9000"),
            (ConfigKeys.S3PathStyle, "true"), (ConfigKeys.Index, "postgres"), (ConfigKeys.Postgres, "Host=db;Database=flywheel"));
        Assert.NotNull(options.S3);
        Assert.Equal((new Uri("http://127.0.0.1:9000"), "flywheel", "us-east-1", true, false),
            (options.S3.ServiceUrl, options.S3.Bucket, options.S3.Region, options.S3.ForcePathStyle, options.S3.PresignDownloads));
        Assert.Equal("Host=db;Database=flywheel", options.PostgresConnectionString);
    }
}
