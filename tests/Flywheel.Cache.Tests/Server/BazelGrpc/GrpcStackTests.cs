using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Server.BazelGrpc;
using Google.Bytestream;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Flywheel.Cache.Tests.Server.BazelGrpc;

/// <summary>
/// What the gRPC stack (Grpc.AspNetCore) gives the REAPI front door, against a real daemon: health, reflection,
/// UNIMPLEMENTED for unknown methods, deadlines enforced by the server, message limits, compression negotiation,
/// the one error mapping, and FindMissingBlobs bound once, with its own marshaller.
/// </summary>
public sealed class GrpcStackTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public GrpcStackTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task Health_check_is_serving_for_the_server_and_every_reapi_service_and_not_found_for_others()
    {
        using var client = new ReapiClient(_daemon.GrpcAddress, null);
        var health = new Health.HealthClient(client.Channel);
        foreach (var name in ReapiGrpc.HealthServiceNames)
        {
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = name }, client.Options())).Status);
        }

        Assert.Contains(ContentAddressableStorage.Descriptor.FullName, ReapiGrpc.HealthServiceNames);
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }, client.Options()));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Health_watch_streams_not_serving_while_storage_is_gone_and_serving_again()
    {
        var daemon = new DaemonFixture();
        await daemon.InitializeAsync();
        try
        {
            using var client = new ReapiClient(daemon.GrpcAddress, null);
            var health = new Health.HealthClient(client.Channel);
            using var watch = health.Watch(new HealthCheckRequest(), client.Options(TimeSpan.FromMinutes(1)));
            await HealthWatch.NextAsync(watch, HealthCheckResponse.Types.ServingStatus.Serving);

            var blobs = Path.Combine(daemon.DataDirectory, "blobs");
            System.IO.Directory.Move(blobs, blobs + ".away");
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest(), client.Options())).Status);
            await HealthWatch.NextAsync(watch, HealthCheckResponse.Types.ServingStatus.NotServing);

            System.IO.Directory.Move(blobs + ".away", blobs);
            await HealthWatch.NextAsync(watch, HealthCheckResponse.Types.ServingStatus.Serving);
        }
        finally
        {
            await daemon.DisposeAsync();
        }
    }

    [Fact]
    public async Task Reflection_lists_the_reapi_services_and_health()
    {
        using var client = new ReapiClient(_daemon.GrpcAddress, null);
        using var call = new ServerReflection.ServerReflectionClient(client.Channel).ServerReflectionInfo(client.Options());
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext());

        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("build.bazel.remote.execution.v2.Capabilities", services);
        Assert.Contains("build.bazel.remote.execution.v2.ActionCache", services);
        Assert.Contains("build.bazel.remote.execution.v2.ContentAddressableStorage", services);
        Assert.Contains("google.bytestream.ByteStream", services);
        Assert.Contains("grpc.health.v1.Health", services);
    }

    [Theory]
    [InlineData("build.bazel.remote.execution.v2.Execution", "Execute")] // a service we do not serve
    [InlineData("build.bazel.remote.execution.v2.ContentAddressableStorage", "SplitBlob")] // a method we do not serve
    public async Task Unknown_methods_are_unimplemented(string service, string method)
    {
        using var client = new ReapiClient(_daemon.GrpcAddress, null);
        var bytes = Marshallers.Create(static (byte[] b) => b, static b => b);
        var call = client.Channel.CreateCallInvoker().AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, service, method, bytes, bytes), null, client.Options(), []);

        var error = await Assert.ThrowsAsync<RpcException>(async () => await call);
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task The_server_ends_a_call_at_its_grpc_timeout_with_deadline_exceeded()
    {
        // A raw HTTP/2 call, so the deadline is the server's (a Grpc.Net.Client call would time out on the client first):
        // a Write that sends one message and then neither finishes nor closes.
        var digest = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(1000));
        var first = new WriteRequest { ResourceName = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}", Data = ByteString.CopyFrom(new byte[10]) };
        using var hang = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var started = DateTime.UtcNow;

        var (status, _, _) = await RawCallAsync("/google.bytestream.ByteStream/Write", first, new() { ["grpc-timeout"] = "300m", ["authorization"] = "Bearer " + _daemon.AdminToken }, keepOpen: hang.Token);

        Assert.Equal(((int)StatusCode.DeadlineExceeded).ToString(System.Globalization.CultureInfo.InvariantCulture), status);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_message_over_the_limit_is_resource_exhausted_and_a_full_batch_is_under_it()
    {
        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        var huge = new byte[ReapiGrpc.MaxMessageBytes + 1];
        var tooBig = await Assert.ThrowsAsync<RpcException>(() => client.BatchUpdateAsync((ReapiClient.DigestOf(huge), huge)));
        Assert.Equal(StatusCode.ResourceExhausted, tooBig.StatusCode);

        // 4 MiB of blobs (max_batch_total_size_bytes) plus their digests: over Grpc.AspNetCore's default 4 MB limit
        var full = Enumerable.Range(0, 4).Select(_ => ReapiServiceTests.RandomBytes(1024 * 1024)).ToArray();
        var stored = await client.BatchUpdateAsync(full.Select(b => (ReapiClient.DigestOf(b), b)).ToArray());
        Assert.All(stored.Responses, r => Assert.Equal(0, r.Status.Code));
        var read = await client.BatchReadAsync(full.Select(ReapiClient.DigestOf).ToArray());
        Assert.Equal(full, read.Responses.Select(r => r.Data.ToByteArray()));
    }

    [Fact]
    public async Task Responses_are_gzipped_when_the_client_accepts_it_but_blob_bytes_are_not()
    {
        var accepts = new Dictionary<string, string> { ["grpc-accept-encoding"] = "identity,gzip" };
        var (status, encoding, frames) = await RawCallAsync("/build.bazel.remote.execution.v2.Capabilities/GetCapabilities", new GetCapabilitiesRequest(), accepts);
        Assert.Equal("0", status);
        Assert.Equal("gzip", encoding);
        var (compressed, payload) = Assert.Single(frames);
        Assert.True(compressed);
        using var gunzip = new GZipStream(new MemoryStream(payload), CompressionMode.Decompress);
        Assert.Contains(DigestFunction.Types.Value.Sha256, ServerCapabilities.Parser.ParseFrom(gunzip).CacheCapabilities.DigestFunctions);

        var (plainStatus, plainEncoding, plainFrames) = await RawCallAsync("/build.bazel.remote.execution.v2.Capabilities/GetCapabilities", new GetCapabilitiesRequest(), []);
        Assert.Equal("0", plainStatus);
        Assert.Null(plainEncoding);
        Assert.False(Assert.Single(plainFrames).Compressed);

        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        var blob = new byte[300_000]; // compressible, and still sent as it is
        await client.BatchUpdateAsync((ReapiClient.DigestOf(blob), blob));
        var digest = ReapiClient.DigestOf(blob);
        var (readStatus, _, readFrames) = await RawCallAsync("/google.bytestream.ByteStream/Read", new ReadRequest { ResourceName = $"blobs/{digest.Hash}/{digest.SizeBytes}" }, accepts);
        Assert.Equal("0", readStatus);
        Assert.All(readFrames, f => Assert.False(f.Compressed));
        Assert.Equal(blob, readFrames.SelectMany(f => ReadResponse.Parser.ParseFrom(f.Payload).Data.ToByteArray()).ToArray());
    }

    [Fact]
    public async Task Action_results_are_sent_uncompressed_even_when_the_client_accepts_gzip()
    {
        using var client = new ReapiClient(_daemon.GrpcAddress, _daemon.AdminToken);
        var output = ReapiServiceTests.RandomBytes(100);
        await client.BatchUpdateAsync((ReapiClient.DigestOf(output), output));
        var action = ReapiClient.DigestOf(ReapiServiceTests.RandomBytes(32));
        var result = new ActionResult { ExitCode = 0 };
        result.OutputFiles.Add(new OutputFile { Path = "bazel-out/k8-fastbuild/bin/" + new string('a', 200), Digest = ReapiClient.DigestOf(output) });
        await client.UpdateActionResultAsync(action, result);

        // What Bazel (grpc-java) sends on every call: it accepts gzip.
        var accepts = new Dictionary<string, string> { ["grpc-accept-encoding"] = "gzip", ["authorization"] = "Bearer " + _daemon.AdminToken };
        var (status, _, frames) = await RawCallAsync(
            "/build.bazel.remote.execution.v2.ActionCache/GetActionResult", new GetActionResultRequest { ActionDigest = action }, accepts);

        // grpc-encoding still names what was negotiated; each message's flag says whether it is compressed.
        Assert.Equal("0", status);
        var (compressed, payload) = Assert.Single(frames);
        Assert.False(compressed);
        Assert.Equal(result, ActionResult.Parser.ParseFrom(payload));
    }

    [Fact]
    public void FindMissingBlobs_is_bound_once_with_its_own_marshaller()
    {
        var endpoints = _daemon.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Select(e => e.Metadata.GetMetadata<GrpcMethodMetadata>())
            .OfType<GrpcMethodMetadata>()
            .Where(m => m.Method.FullName == "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs")
            .ToList();

        Assert.Same(FindMissingBlobsMethod.Method, Assert.Single(endpoints).Method);
    }

    [Fact]
    public async Task The_error_mapping_keeps_core_messages_and_hides_unexpected_ones()
    {
        var mapping = new GrpcErrorMapping(NullLogger<GrpcErrorMapping>.Instance);
        var context = new TestCallContext();

        var core = await Assert.ThrowsAsync<RpcException>(() => mapping.UnaryServerHandler<string, string>(
            "request", context, (_, _) => throw new CacheException(CacheError.Forbidden, "token lacks push on 'main'")));
        Assert.Equal(StatusCode.PermissionDenied, core.StatusCode);
        Assert.Equal("token lacks push on 'main'", core.Status.Detail);

        var bug = await Assert.ThrowsAsync<RpcException>(() => mapping.UnaryServerHandler<string, string>(
            "request", context, (_, _) => throw new InvalidOperationException("connection string Password=hunter2")));
        Assert.Equal(StatusCode.Internal, bug.StatusCode);
        Assert.DoesNotContain("hunter2", bug.Status.Detail);

        var huge = await Assert.ThrowsAsync<RpcException>(() => mapping.UnaryServerHandler<string, string>(
            "request", context, (_, _) => throw CacheException.Invalid(new string('x', 100_000))));
        Assert.Equal(StatusCode.InvalidArgument, huge.StatusCode);
        Assert.InRange(huge.Status.Detail.Length, 1, GrpcErrorMapping.MaxMessageLength + 1); // cut, so the trailer fits a client's header limit

        var own = new RpcException(new Status(StatusCode.OutOfRange, "beyond"));
        Assert.Same(own, await Assert.ThrowsAsync<RpcException>(() => mapping.UnaryServerHandler<string, string>("request", context, (_, _) => throw own)));
    }

    /// <summary>
    /// One gRPC call over plain HTTP/2: the request message framed by hand (the body stays open until
    /// <paramref name="keepOpen"/> when given), the response's frames as sent (compressed flag, payload), its
    /// grpc-encoding and grpc-status (trailers, or headers for a trailers-only answer).
    /// </summary>
    private Task<(string? Status, string? Encoding, List<(bool Compressed, byte[] Payload)> Frames)> RawCallAsync(
        string path, IMessage message, Dictionary<string, string> headers, CancellationToken? keepOpen = null) =>
        RawCallAsync(_daemon.GrpcAddress, path, Frame(message.ToByteArray()), headers, keepOpen);

    /// <summary>A gRPC message prefix (not compressed, or <paramref name="compressed"/>) and the payload as given.</summary>
    internal static byte[] Frame(byte[] payload, bool compressed = false)
    {
        var framed = new byte[5 + payload.Length];
        framed[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(1), payload.Length);
        payload.CopyTo(framed, 5);
        return framed;
    }

    /// <summary>As above, with the request body given byte for byte (framed by the caller: <see cref="Frame"/>).</summary>
    internal static async Task<(string? Status, string? Encoding, List<(bool Compressed, byte[] Payload)> Frames)> RawCallAsync(
        Uri grpcAddress, string path, byte[] body, Dictionary<string, string> headers, CancellationToken? keepOpen = null)
    {
        using var http = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(grpcAddress, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new RawContent(body, keepOpen),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        byte[] received;
        try
        {
            received = await response.Content.ReadAsByteArrayAsync();
        }
        catch (HttpRequestException) when (keepOpen is not null)
        {
            // Having answered, the server resets the stream whose request we keep open: the status came in the headers.
            received = [];
        }
        var frames = new List<(bool, byte[])>();
        for (var position = 0; position < received.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(received.AsSpan(position + 1, 4));
            frames.Add((received[position] == 1, received.AsSpan(position + 5, length).ToArray()));
            position += 5 + length;
        }

        string? Header(string name) =>
            response.TrailingHeaders.TryGetValues(name, out var t) ? t.First()
            : response.Headers.TryGetValues(name, out var h) ? h.First()
            : null;
        return (Header("grpc-status"), Header("grpc-encoding"), frames);
    }

    private sealed class RawContent(byte[] body, CancellationToken? keepOpen) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(body);
            await stream.FlushAsync();
            if (keepOpen is { } token)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException)
                {
                    // the test's safety net: the server should have ended the call long before
                }
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>The least <see cref="ServerCallContext"/> the interceptor needs: the method name and a cancellation token.</summary>
    internal sealed class TestCallContext : ServerCallContext
    {
        protected override string MethodCore => "/test.Service/Method";
        protected override string HostCore => "localhost";
        protected override string PeerCore => "ipv4:127.0.0.1:1";
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Metadata RequestHeadersCore { get; } = [];
        protected override CancellationToken CancellationTokenCore => CancellationToken.None;
        protected override Metadata ResponseTrailersCore { get; } = [];
        protected override Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore => new(null, []);

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
