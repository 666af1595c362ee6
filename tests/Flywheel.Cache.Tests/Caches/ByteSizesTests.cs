using Flywheel.Cache.Caches;
using Flywheel.Cache.Tokens;

namespace Flywheel.Cache.Tests.Caches;

public sealed class ByteSizesTests
{
    [Theory]
    [InlineData("1048576", 1048576L)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("50 GiB", 50L << 30)]
    [InlineData("2tib", 2L << 40)]
    [InlineData("10GB", 10_000_000_000L)]
    [InlineData("7B", 7L)]
    public void Parses_what_users_write(string text, long bytes) => Assert.Equal(bytes, ByteSizes.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1GiB")]
    [InlineData("1.5GiB")]
    [InlineData("lots")]
    [InlineData("9999999TiB")]
    public void Refuses_anything_else_with_a_clear_message(string text)
    {
        var e = Assert.Throws<CacheException>(() => ByteSizes.Parse(text));
        Assert.Equal(CacheError.Invalid, e.Error);
        Assert.Contains("not a size", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(50L << 30, "50GiB")]
    [InlineData(1536L << 10, "1536KiB")]
    [InlineData(1000L, "1000B")]
    public void Formats_in_the_largest_exact_unit_and_parses_back(long bytes, string text)
    {
        Assert.Equal(text, ByteSizes.Format(bytes));
        Assert.Equal(bytes, ByteSizes.Parse(text));
    }

    [Theory]
    [InlineData(30 * 24 * 60, "30d")]
    [InlineData(36 * 60, "36h")]
    [InlineData(90, "90m")]
    public void Durations_format_in_the_largest_exact_unit_and_parse_back(int minutes, string text)
    {
        Assert.Equal(text, Durations.Format(TimeSpan.FromMinutes(minutes)));
        Assert.Equal(TimeSpan.FromMinutes(minutes), Durations.Parse(text));
    }
}
