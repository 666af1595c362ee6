using Flywheel.Cache.Grpc.Protocol;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>grpc-timeout, grpc-message percent-encoding and "-bin" base64.</summary>
public sealed class ProtocolEncodingTests
{
    [Theory]
    [InlineData("100m", 100 * TimeSpan.TicksPerMillisecond)]
    [InlineData("5S", 5 * TimeSpan.TicksPerSecond)]
    [InlineData("1H", TimeSpan.TicksPerHour)]
    [InlineData("2M", 2 * TimeSpan.TicksPerMinute)]
    [InlineData("7u", 7 * TimeSpan.TicksPerMicrosecond)]
    [InlineData("250n", 3)]
    [InlineData("99999999S", 99999999 * TimeSpan.TicksPerSecond)]
    public void Timeout_parses(string value, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out TimeSpan timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("-1S")]
    [InlineData("123456789S")]
    [InlineData("1.5S")]
    public void Malformed_timeout_is_refused(string value) =>
        Assert.False(GrpcTimeout.TryParse(value, out _));

    [Theory]
    [InlineData(100 * TimeSpan.TicksPerMillisecond)]
    [InlineData(TimeSpan.TicksPerDay * 400)]
    [InlineData(1)]
    [InlineData(12345678901)]
    public void Formatted_timeout_parses_back_no_shorter(long ticks)
    {
        string text = GrpcTimeout.Format(TimeSpan.FromTicks(ticks));
        Assert.InRange(text.Length, 2, 9);
        Assert.True(GrpcTimeout.TryParse(text, out TimeSpan parsed));
        Assert.True(parsed.Ticks >= ticks, $"{text} → {parsed.Ticks} < {ticks}");
    }

    [Theory]
    [InlineData("plain message", "plain message")]
    [InlineData("100% sure", "100%25 sure")]
    [InlineData("blob not found: ünïcødé ✓", "blob not found: %C3%BCn%C3%AFc%C3%B8d%C3%A9 %E2%9C%93")]
    [InlineData("line\nbreak", "line%0Abreak")]
    public void Message_percent_encoding_round_trips(string message, string encoded)
    {
        Assert.Equal(encoded, GrpcPercentEncoding.Encode(message));
        Assert.Equal(message, GrpcPercentEncoding.Decode(encoded));
    }

    [Fact]
    public void A_message_too_long_for_a_trailer_is_cut()
    {
        string encoded = GrpcPercentEncoding.Encode("no instance named '" + new string('a', 100 * 1024) + "'");
        Assert.True(encoded.Length <= GrpcPercentEncoding.MaxMessageLength + 9, $"{encoded.Length} characters");
        Assert.StartsWith("no instance named 'aaa", GrpcPercentEncoding.Decode(encoded), StringComparison.Ordinal);
        Assert.EndsWith("…", GrpcPercentEncoding.Decode(encoded), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("50%", "50%")]
    [InlineData("%zz", "%zz")]
    [InlineData("%4", "%4")]
    public void Broken_percent_sequences_are_kept(string value, string decoded) =>
        Assert.Equal(decoded, GrpcPercentEncoding.Decode(value));

    [Theory]
    [InlineData("AQID", new byte[] { 1, 2, 3 })]
    [InlineData("AQI", new byte[] { 1, 2 })]
    [InlineData("AQI=", new byte[] { 1, 2 })]
    [InlineData("AQ", new byte[] { 1 })]
    [InlineData("AQ==", new byte[] { 1 })]
    [InlineData("AQ,Ag", new byte[] { 1, 2 })]
    public void Binary_metadata_accepts_padded_and_unpadded(string value, byte[] expected) =>
        Assert.Equal(expected, GrpcBinaryMetadata.Decode(value));

    [Fact]
    public void Binary_metadata_is_emitted_unpadded_and_rejects_garbage()
    {
        Assert.Equal("AQ", GrpcBinaryMetadata.Encode([1]));
        Assert.Null(GrpcBinaryMetadata.Decode("!!!"));
        Assert.Null(GrpcBinaryMetadata.Decode("A"));
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("Application/GRPC; charset=utf-8", true)]
    [InlineData("application/grpc+json", false)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void Content_types(string? contentType, bool grpc) =>
        Assert.Equal(grpc, GrpcProtocol.IsGrpcContentType(contentType));
}
