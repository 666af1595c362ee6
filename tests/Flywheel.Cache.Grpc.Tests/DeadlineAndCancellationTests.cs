using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>grpc-timeout deadlines and client cancellation, as the handler and the client see them.</summary>
[Collection(GrpcHostCollection.Name)]
public sealed class DeadlineAndCancellationTests(GrpcTestHost host)
{
    [Fact]
    public async Task Server_enforces_grpc_timeout_with_deadline_exceeded()
    {
        string id = Guid.NewGuid().ToString("N");
        // The header is sent raw so that the status comes from the server, not from a local client timer.
        var options = new GrpcCallOptions { Headers = { ["grpc-timeout"] = "100m" } };
        var watch = Stopwatch.StartNew();

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Wait", new StringValue { Value = id }, StringValue.Parser, options));

        Assert.Equal(GrpcStatusCode.DeadlineExceeded, ex.Status);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        bool clientGone = await host.CancellationFor(id).Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(clientGone);
    }

    [Fact]
    public async Task Handler_ignoring_its_deadline_does_not_answer_ok()
    {
        var options = new GrpcCallOptions { Headers = { ["grpc-timeout"] = "50m" } };
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/IgnoreDeadline", new StringValue { Value = "late" }, StringValue.Parser, options));
        Assert.Equal(GrpcStatusCode.DeadlineExceeded, ex.Status);
    }

    [Theory]
    [InlineData("99999999H")]
    [InlineData("bogus")]
    public async Task Huge_or_malformed_timeout_means_no_deadline(string value)
    {
        var trailers = new Dictionary<string, string>();
        var options = new GrpcCallOptions { Headers = { ["grpc-timeout"] = value }, ResponseTrailers = trailers };
        await host.Client.UnaryAsync("/test.Echo/Metadata", new StringValue { Value = "x" }, StringValue.Parser, options);
        Assert.Equal("none", trailers["x-deadline"]);
    }

    [Fact]
    public async Task Deadline_is_visible_to_the_handler()
    {
        var trailers = new Dictionary<string, string>();
        var options = new GrpcCallOptions { Timeout = TimeSpan.FromSeconds(30), ResponseTrailers = trailers };
        await host.Client.UnaryAsync("/test.Echo/Metadata", new StringValue { Value = "x" }, StringValue.Parser, options);
        Assert.Equal("set", trailers["x-deadline"]);
    }

    [Fact]
    public async Task Client_timeout_fails_with_deadline_exceeded_and_cancels_the_handler()
    {
        string id = Guid.NewGuid().ToString("N");
        var options = new GrpcCallOptions { Timeout = TimeSpan.FromMilliseconds(150) };

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Wait", new StringValue { Value = id }, StringValue.Parser, options));

        Assert.Equal(GrpcStatusCode.DeadlineExceeded, ex.Status);
        await host.CancellationFor(id).Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Client_cancellation_is_observed_by_the_handler_and_not_logged_as_an_error()
    {
        string id = Guid.NewGuid().ToString("N");
        using var cts = new CancellationTokenSource();
        Task<StringValue> call = host.Client.UnaryAsync("/test.Echo/Wait", new StringValue { Value = id }, StringValue.Parser, new GrpcCallOptions { CancellationToken = cts.Token });
        await Task.Delay(200);
        cts.Cancel();

        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() => call);
        Assert.Equal(GrpcStatusCode.Cancelled, ex.Status);
        bool sawClientAbort = await host.CancellationFor(id).Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(sawClientAbort);

        await Task.Delay(100); // let the server finish the call
        Assert.DoesNotContain(host.Logs, log => log.Level >= LogLevel.Warning && log.Message.Contains("/test.Echo/Wait"));
    }

    [Fact]
    public async Task Abandoning_a_server_stream_cancels_the_handler()
    {
        string id = Guid.NewGuid().ToString("N");
        int received = 0;
        await foreach (StringValue item in host.Client.ServerStreamingAsync("/test.Stream/Forever", new StringValue { Value = id }, StringValue.Parser))
        {
            if (++received == 3)
            {
                break;
            }
        }

        await host.CancellationFor(id).Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Enumerator_cancellation_token_cancels_a_server_stream()
    {
        string id = Guid.NewGuid().ToString("N");
        using var cts = new CancellationTokenSource();
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(async () =>
        {
            await foreach (StringValue item in host.Client.ServerStreamingAsync("/test.Stream/Forever", new StringValue { Value = id }, StringValue.Parser).WithCancellation(cts.Token))
            {
                cts.Cancel();
            }
        });

        Assert.Equal(GrpcStatusCode.Cancelled, ex.Status);
        await host.CancellationFor(id).Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
