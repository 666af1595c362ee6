using System.Net;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>Unary, server-streaming and client-streaming methods, request checks and the fallback, on a real Kestrel host.</summary>
[Collection(GrpcHostCollection.Name)]
public sealed class MethodBindingTests(GrpcTestHost host, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Unary_round_trip()
    {
        StringValue reply = await host.Client.UnaryAsync("/test.Echo/Unary", new StringValue { Value = "hello" }, StringValue.Parser);
        Assert.Equal("hello", reply.Value);
    }

    [Fact]
    public async Task Raw_unary_answers_with_the_self_encoded_payload_and_disposes_the_message_once()
    {
        int before = host.RawDisposals;

        StringValue reply = await host.Client.UnaryAsync("/test.Echo/Raw", new StringValue { Value = "raw bytes" }, StringValue.Parser);
        StringValue empty = await host.Client.UnaryAsync("/test.Echo/Raw", new StringValue(), StringValue.Parser);

        Assert.Equal("raw bytes", reply.Value);
        Assert.Equal("", empty.Value);
        for (int i = 0; i < 100 && host.RawDisposals < before + 2; i++)
        {
            await Task.Delay(20); // disposal follows the response on the server
        }

        Assert.Equal(before + 2, host.RawDisposals);
    }

    [Fact]
    public async Task Unary_with_empty_message_round_trips()
    {
        StringValue reply = await host.Client.UnaryAsync("/test.Echo/Unary", new StringValue(), StringValue.Parser);
        Assert.Equal("", reply.Value);
    }

    [Fact]
    public async Task Concurrent_unary_calls_share_the_connection()
    {
        StringValue[] replies = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            host.Client.UnaryAsync("/test.Echo/Unary", new StringValue { Value = "n" + i }, StringValue.Parser)));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => "n" + i), replies.Select(r => r.Value));
    }

    [Fact]
    public async Task Server_streaming_many_messages()
    {
        var received = new List<long>();
        await foreach (Int64Value item in host.Client.ServerStreamingAsync("/test.Stream/Range", new Int64Value { Value = 20_000 }, Int64Value.Parser))
        {
            received.Add(item.Value);
        }

        Assert.Equal(Enumerable.Range(0, 20_000).Select(i => (long)i), received);
    }

    [Fact]
    public async Task Server_streaming_zero_messages_is_ok()
    {
        int count = 0;
        await foreach (Int64Value item in host.Client.ServerStreamingAsync("/test.Stream/Range", new Int64Value { Value = 0 }, Int64Value.Parser))
        {
            count++;
        }

        Assert.Equal(0, count);
    }

    [Fact]
    public async Task Client_streaming_many_messages()
    {
        static async IAsyncEnumerable<StringValue> Items()
        {
            for (int i = 0; i < 20_000; i++)
            {
                yield return new StringValue { Value = "item" + i };
                if (i % 1000 == 0)
                {
                    await Task.Yield();
                }
            }
        }

        Int64Value count = await host.Client.ClientStreamingAsync("/test.Stream/Count", Items(), Int64Value.Parser);
        Assert.Equal(20_000, count.Value);
    }

    [Fact]
    public async Task Client_streaming_64_MiB_is_consumed_as_it_arrives()
    {
        const int chunk = 1024 * 1024;
        const int chunks = 64;
        string id = Guid.NewGuid().ToString("N");
        var payload = new BytesValue { Value = ByteString.CopyFrom(new byte[chunk]) };
        long maxLead = 0;

        async IAsyncEnumerable<BytesValue> Upload([EnumeratorCancellation] CancellationToken ct = default)
        {
            for (int i = 0; i < chunks; i++)
            {
                long lead = ((long)i * chunk) - host.BytesReceived.GetValueOrDefault(id);
                maxLead = Math.Max(maxLead, lead);
                yield return payload;
                await Task.Yield();
            }
        }

        var options = new GrpcCallOptions { Headers = { ["call-id"] = id } };
        Int64Value total = await host.Client.ClientStreamingAsync("/test.Stream/Sum", Upload(), Int64Value.Parser, options);

        Assert.Equal((long)chunk * chunks, total.Value);
        output.WriteLine($"largest lead of the client over the handler: {maxLead} bytes");
        // HTTP/2 flow control lets the client run only a few windows ahead of what the handler has consumed.
        Assert.True(maxLead <= 16L * chunk, $"the client got {maxLead} bytes ahead of the handler: the request is being buffered");
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Nope/Missing", new StringValue(), StringValue.Parser));
        Assert.Equal(GrpcStatusCode.Unimplemented, ex.Status);
        Assert.Contains("/test.Nope/Missing", ex.Message);
    }

    [Fact]
    public async Task Unknown_method_answer_is_trailers_only()
    {
        (HttpResponseMessage response, byte[] body) = await RawHttp.PostAsync(host.Http2Address, "/test.Nope/Missing", RawHttp.Frames(new StringValue()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("12", RawHttp.Header(response.Headers, "grpc-status"));
        Assert.Empty(body);
        Assert.Empty(response.TrailingHeaders);
    }

    [Fact]
    public async Task Non_grpc_post_to_unknown_path_is_not_taken_by_the_fallback()
    {
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/api/whatever", [1, 2], "application/json");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Get_on_a_method_is_refused()
    {
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", [], method: "GET", contentType: null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Fact]
    public async Task Bad_content_type_is_415_with_grpc_status()
    {
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", RawHttp.Frames(new StringValue()), "application/json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("13", RawHttp.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Grpc_proto_content_type_is_accepted()
    {
        (HttpResponseMessage response, byte[] body) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", RawHttp.Frames(new StringValue { Value = "p" }), "application/grpc+proto");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("0", RawHttp.Header(response.TrailingHeaders, "grpc-status"));
        Assert.Equal(RawHttp.Frames(new StringValue { Value = "p" }), body);
    }

    [Fact]
    public async Task Http11_request_is_426()
    {
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http1Address, "/test.Echo/Unary", RawHttp.Frames(new StringValue()), version: HttpVersion.Version11);
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("13", RawHttp.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Unary_without_a_message_is_unimplemented()
    {
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", []);
        Assert.Equal("12", RawHttp.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Unary_with_two_messages_is_unimplemented()
    {
        byte[] body = RawHttp.Frames(new StringValue { Value = "a" }, new StringValue { Value = "b" });
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", body);
        Assert.Equal("12", RawHttp.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Truncated_request_is_internal()
    {
        byte[] body = RawHttp.Frames(new StringValue { Value = "abcdef" })[..^2];
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", body);
        Assert.Equal("13", RawHttp.Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Unsupported_message_encoding_is_unimplemented_and_identity_is_advertised()
    {
        var headers = new Dictionary<string, string> { ["grpc-encoding"] = "gzip" };
        (HttpResponseMessage response, _) = await RawHttp.PostAsync(host.Http2Address, "/test.Echo/Unary", RawHttp.Frames(new StringValue()), headers: headers);
        Assert.Equal("12", RawHttp.Header(response.Headers, "grpc-status"));
        Assert.Equal("identity", RawHttp.Header(response.Headers, "grpc-accept-encoding"));
    }

    [Fact]
    public async Task Request_over_max_message_size_is_resource_exhausted()
    {
        var big = new BytesValue { Value = ByteString.CopyFrom(new byte[GrpcTestHost.MaxMessageSize + 1]) };
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Bytes", big, Int64Value.Parser));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, ex.Status);
    }

    [Fact]
    public async Task Request_just_under_max_message_size_is_accepted()
    {
        var big = new BytesValue { Value = ByteString.CopyFrom(new byte[GrpcTestHost.MaxMessageSize - 16]) };
        Int64Value length = await host.Client.UnaryAsync("/test.Echo/Bytes", big, Int64Value.Parser);
        Assert.Equal(GrpcTestHost.MaxMessageSize - 16, length.Value);
    }

    [Fact]
    public async Task Response_over_max_send_size_is_resource_exhausted()
    {
        GrpcException ex = await Assert.ThrowsAsync<GrpcException>(() =>
            host.Client.UnaryAsync("/test.Echo/Big", new Int64Value { Value = GrpcTestHost.MaxMessageSize + 1 }, BytesValue.Parser));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, ex.Status);
    }
}
