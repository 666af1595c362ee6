using System.Net;
using Flywheel.Cache.Grpc.Protocol;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>How handler outcomes become grpc-status, grpc-message, details and custom trailers.</summary>
[Collection(GrpcHostCollection.Name)]
public sealed class StatusAndTrailersTests(GrpcTestHost host)
{
    [Theory]
    [InlineData("blob not found")]
    [InlineData("100% missing: ünïcødé ✓ \"quoted\" %41")]
    [InlineData("line one\nline two\ttab")]
    public async Task GrpcException_status_and_message_round_trip(string message)
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Fail", new StringValue { Value = message }, StringValue.Parser));
        Assert.Equal(GrpcStatusCode.NotFound, ex.Status);
        Assert.Equal(message, ex.Message);
        Assert.Equal(new byte[] { 1, 2, 3, 250 }, ex.Details);
    }

    [Fact]
    public async Task Error_before_any_message_is_trailers_only_on_the_wire()
    {
        (HttpResponseMessage response, byte[] body) = await RawHttp.PostAsync(
            host.Http2Address, "/test.Echo/Fail", RawHttp.Frames(new StringValue { Value = "gone 100%" }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("5", RawHttp.Header(response.Headers, "grpc-status"));
        Assert.Equal("gone 100%25", RawHttp.Header(response.Headers, "grpc-message"));
        Assert.Equal(GrpcBinaryMetadata.Encode([1, 2, 3, 250]), RawHttp.Header(response.Headers, "grpc-status-details-bin"));
        Assert.Empty(body);
        Assert.Empty(response.TrailingHeaders);
    }

    [Fact]
    public async Task Ok_status_is_sent_in_trailers_after_the_message()
    {
        (HttpResponseMessage response, byte[] body) = await RawHttp.PostAsync(
            host.Http2Address, "/test.Echo/Unary", RawHttp.Frames(new StringValue { Value = "x" }));

        Assert.Null(RawHttp.Header(response.Headers, "grpc-status"));
        Assert.Equal("0", RawHttp.Header(response.TrailingHeaders, "grpc-status"));
        Assert.NotEmpty(body);
    }

    [Fact]
    public async Task Error_after_messages_arrives_in_trailers()
    {
        var received = new List<long>();
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(async () =>
        {
            await foreach (Int64Value item in host.Client.ServerStreamingAsync("/test.Stream/RangeThenFail", new Int64Value { Value = 3 }, Int64Value.Parser))
            {
                received.Add(item.Value);
            }
        });

        Assert.Equal([0L, 1L, 2L], received);
        Assert.Equal(GrpcStatusCode.Aborted, ex.Status);
        Assert.Equal("stopped after 3", ex.Message);
    }

    [Fact]
    public async Task Other_exceptions_are_unknown_with_a_generic_message_and_logged_with_the_method()
    {
        string marker = Guid.NewGuid().ToString("N");
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Throw", new StringValue { Value = marker }, StringValue.Parser));

        Assert.Equal(GrpcStatusCode.Unknown, ex.Status);
        Assert.DoesNotContain("secret", ex.Message);
        Assert.Contains(host.Logs, log =>
            log.Level == LogLevel.Error
            && log.Message.Contains("/test.Echo/Throw")
            && log.Exception is InvalidOperationException e && e.Message.Contains(marker));
    }

    [Fact]
    public async Task Exception_mapper_decides_the_status_of_host_exceptions()
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Mapped", new StringValue { Value = "digest abc" }, StringValue.Parser));

        Assert.Equal(GrpcStatusCode.NotFound, ex.Status);
        Assert.Equal("mapped: digest abc", ex.Message);
    }

    [Fact]
    public async Task Metadata_and_binary_metadata_round_trip()
    {
        byte[] data = [0, 1, 2, 253, 254, 255, 42];
        var trailers = new Dictionary<string, string>();
        var options = new GrpcCallOptions
        {
            Headers =
            {
                ["authorization"] = "Bearer t0ken",
                ["x-data-bin"] = GrpcBinaryMetadata.Encode(data),
            },
            ResponseTrailers = trailers,
        };

        StringValue reply = await host.Client.UnaryAsync("/test.Echo/Metadata", new StringValue { Value = "authorization" }, StringValue.Parser, options);

        Assert.Equal("Bearer t0ken", reply.Value);
        Assert.Equal(data, GrpcBinaryMetadata.Decode(trailers["x-echo-bin"]));
        Assert.Equal("none", trailers["x-deadline"]);
    }

    [Fact]
    public async Task Padded_binary_metadata_is_accepted()
    {
        var trailers = new Dictionary<string, string>();
        var options = new GrpcCallOptions { Headers = { ["x-data-bin"] = "AQI=" }, ResponseTrailers = trailers };

        await host.Client.UnaryAsync("/test.Echo/Metadata", new StringValue { Value = "x" }, StringValue.Parser, options);

        Assert.Equal(new byte[] { 1, 2 }, GrpcBinaryMetadata.Decode(trailers["x-echo-bin"]));
        Assert.Equal("AQI", trailers["x-echo-bin"]);
    }

    [Fact]
    public async Task Custom_trailers_go_with_an_error_status()
    {
        var trailers = new Dictionary<string, string>();
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/FailWithTrailer", new StringValue { Value = "why" }, StringValue.Parser, new GrpcCallOptions { ResponseTrailers = trailers }));

        Assert.Equal(GrpcStatusCode.FailedPrecondition, ex.Status);
        Assert.Equal("why", trailers["x-reason"]);
    }
}
