using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Google.Protobuf.WellKnownTypes;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>The client's own duties: statuses from trailers-only and non-gRPC answers, limits, early failures.</summary>
[Collection(GrpcHostCollection.Name)]
public sealed class ClientTests(GrpcTestHost host)
{
    [Fact]
    public async Task Trailers_only_error_is_parsed()
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Fail", new StringValue { Value = "nope" }, StringValue.Parser));
        Assert.Equal(GrpcStatusCode.NotFound, ex.Status);
        Assert.Equal("nope", ex.Message);
    }

    [Fact]
    public async Task Trailers_only_error_on_a_server_stream_is_parsed()
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(async () =>
        {
            await foreach (Int64Value item in host.Client.ServerStreamingAsync("/test.Stream/RangeThenFail", new Int64Value { Value = 0 }, Int64Value.Parser))
            {
            }
        });
        Assert.Equal(GrpcStatusCode.Aborted, ex.Status);
    }

    [Fact]
    public async Task Server_failing_a_client_stream_early_ends_the_upload()
    {
        static async IAsyncEnumerable<StringValue> Endless([EnumeratorCancellation] CancellationToken ct = default)
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                yield return new StringValue { Value = new string('x', 1000) };
                await Task.Yield();
            }
        }

        var call = host.Client.ClientStreamingAsync("/test.Stream/FailEarly", Endless(), Int64Value.Parser);
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(GrpcStatusCode.PermissionDenied, ex.Status);
        Assert.Equal("no uploads for you", ex.Message);
    }

    [Fact]
    public async Task Non_grpc_http_error_is_mapped_from_the_http_status()
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/plain/unavailable", new StringValue(), StringValue.Parser));
        Assert.Equal(GrpcStatusCode.Unavailable, ex.Status);
    }

    [Fact]
    public async Task Response_over_the_client_limit_is_resource_exhausted()
    {
        using var client = new GrpcClient(host.Http2Address) { MaxReceiveMessageSize = 1000 };
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            client.UnaryAsync("/test.Echo/Big", new Int64Value { Value = 5000 }, BytesValue.Parser));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, ex.Status);
    }

    [Fact]
    public async Task Request_over_the_client_send_limit_is_resource_exhausted()
    {
        using var client = new GrpcClient(host.Http2Address) { MaxSendMessageSize = 10 };
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            client.UnaryAsync("/test.Echo/Unary", new StringValue { Value = new string('x', 100) }, StringValue.Parser));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, ex.Status);
    }

    [Fact]
    public async Task Nothing_listening_is_unavailable()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        using var client = new GrpcClient(new Uri($"http://127.0.0.1:{port}/"));
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            client.UnaryAsync("/test.Echo/Unary", new StringValue(), StringValue.Parser));
        Assert.Equal(GrpcStatusCode.Unavailable, ex.Status);
    }
}
