using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Grpc.Tests;

/// <summary>
/// A real Kestrel host on 127.0.0.1 with an HTTP/2-only (prior knowledge) endpoint, what grpc:// clients
/// use, and an HTTP/1.1 endpoint for the protocol check. Its test methods record what they saw in the
/// fields below, keyed by a per-test id sent in the request.
/// </summary>
public sealed class GrpcTestHost : IAsyncLifetime
{
    public const int MaxMessageSize = 2 * 1024 * 1024;

    private WebApplication? _app;

    public Uri Http2Address { get; private set; } = null!;

    public Uri Http1Address { get; private set; } = null!;

    public GrpcClient Client { get; private set; } = null!;

    /// <summary>Bytes received so far by /test.Stream/Sum, per call id (the "call-id" header).</summary>
    public ConcurrentDictionary<string, long> BytesReceived { get; } = new();

    /// <summary>Completed when /test.Echo/Wait sees its token cancelled, per call id (the request value).</summary>
    public ConcurrentDictionary<string, TaskCompletionSource<bool>> Cancellations { get; } = new();

    public ConcurrentQueue<(LogLevel Level, string Category, string Message, Exception? Exception)> Logs { get; } = new();

    public TaskCompletionSource<bool> CancellationFor(string id) =>
        Cancellations.GetOrAdd(id, _ => new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));

    public async Task InitializeAsync()
    {
        ListenOptions? h2 = null;
        ListenOptions? h1 = null;
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(new ListLoggerProvider(Logs));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, o => { o.Protocols = HttpProtocols.Http2; h2 = o; });
            kestrel.Listen(IPAddress.Loopback, 0, o => { o.Protocols = HttpProtocols.Http1; h1 = o; });
        });
        builder.Services.AddGrpcLayer(o =>
        {
            o.MaxReceiveMessageSize = MaxMessageSize;
            o.MaxSendMessageSize = MaxMessageSize;
            o.ExceptionMapper = ex => ex is KeyNotFoundException k ? (GrpcStatusCode.NotFound, "mapped: " + k.Message) : null;
        });

        _app = builder.Build();
        MapTestMethods(_app);
        _app.MapGrpcFallback();
        await _app.StartAsync();

        Http2Address = new Uri($"http://127.0.0.1:{h2!.IPEndPoint!.Port}/");
        Http1Address = new Uri($"http://127.0.0.1:{h1!.IPEndPoint!.Port}/");
        Client = new GrpcClient(Http2Address);
    }

    /// <summary>How many raw echo messages the layer disposed after their call.</summary>
    public int RawDisposals => Volatile.Read(ref _rawDisposals);

    private int _rawDisposals;

    /// <summary>A self-decoded request that is its own self-encoded response: the message bytes as they came.</summary>
    private sealed class RawEcho(byte[] bytes, GrpcTestHost host) : IGrpcPayload, IDisposable
    {
        public int Length => bytes.Length;

        public void WriteTo(System.Buffers.IBufferWriter<byte> output)
        {
            foreach (var piece in bytes.Chunk(3)) // in small pieces, as a payload may
            {
                System.Buffers.BuffersExtensions.Write(output, piece);
            }
        }

        public void Dispose() => Interlocked.Increment(ref host._rawDisposals);
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private void MapTestMethods(WebApplication app)
    {
        app.MapPost("/plain/unavailable", (Microsoft.AspNetCore.Http.HttpContext http) =>
        {
            http.Response.StatusCode = 503;
            return Task.CompletedTask;
        });

        app.MapGrpcUnary("/test.Echo/Unary", StringValue.Parser, (request, call) =>
            Task.FromResult(new StringValue { Value = request.Value }));

        app.MapGrpcUnaryRaw("/test.Echo/Raw", (System.Buffers.ReadOnlySequence<byte> payload) => new RawEcho(System.Buffers.BuffersExtensions.ToArray(payload), this), (request, call) =>
            Task.FromResult<IGrpcPayload>(request));

        app.MapGrpcUnary("/test.Echo/Bytes", BytesValue.Parser, (request, call) =>
            Task.FromResult(new Int64Value { Value = request.Value.Length }));

        app.MapGrpcUnary<Int64Value, BytesValue>("/test.Echo/Big", Int64Value.Parser, (request, call) =>
            Task.FromResult(new BytesValue { Value = ByteString.CopyFrom(new byte[request.Value]) }));

        app.MapGrpcUnary<StringValue, StringValue>("/test.Echo/Fail", StringValue.Parser, (request, call) =>
            throw new GrpcException(GrpcStatusCode.NotFound, request.Value, details: [1, 2, 3, 250]));

        app.MapGrpcUnary<StringValue, StringValue>("/test.Echo/Throw", StringValue.Parser, (request, call) =>
            throw new InvalidOperationException("secret internals " + request.Value));

        app.MapGrpcUnary<StringValue, StringValue>("/test.Echo/Mapped", StringValue.Parser, (request, call) =>
            throw new KeyNotFoundException(request.Value));

        app.MapGrpcUnary("/test.Echo/Wait", StringValue.Parser, async (request, call) =>
        {
            TaskCompletionSource<bool> seen = CancellationFor(request.Value);
            try
            {
                await Task.Delay(Timeout.Infinite, call.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                seen.TrySetResult(call.HttpContext.RequestAborted.IsCancellationRequested);
                throw;
            }

            return request;
        });

        app.MapGrpcUnary("/test.Echo/IgnoreDeadline", StringValue.Parser, async (request, call) =>
        {
            await Task.Delay(300);
            return request;
        });

        app.MapGrpcUnary("/test.Echo/Metadata", StringValue.Parser, (request, call) =>
        {
            byte[]? data = call.GetBinaryHeader("x-data-bin");
            if (data is not null)
            {
                call.AddResponseTrailer("x-echo-bin", data);
            }

            call.AddResponseTrailer("x-deadline", call.Deadline is null ? "none" : "set");
            return Task.FromResult(new StringValue { Value = call.GetHeader(request.Value) ?? "<absent>" });
        });

        app.MapGrpcUnary<StringValue, StringValue>("/test.Echo/FailWithTrailer", StringValue.Parser, (request, call) =>
        {
            call.AddResponseTrailer("x-reason", request.Value);
            throw new GrpcException(GrpcStatusCode.FailedPrecondition, "precondition");
        });

        app.MapGrpcServerStreaming<Int64Value, Int64Value>("/test.Stream/Range", Int64Value.Parser, async (request, writer, call) =>
        {
            for (long i = 0; i < request.Value; i++)
            {
                await writer.WriteAsync(new Int64Value { Value = i });
            }
        });

        app.MapGrpcServerStreaming<Int64Value, Int64Value>("/test.Stream/RangeThenFail", Int64Value.Parser, async (request, writer, call) =>
        {
            for (long i = 0; i < request.Value; i++)
            {
                await writer.WriteAsync(new Int64Value { Value = i });
            }

            throw new GrpcException(GrpcStatusCode.Aborted, "stopped after " + request.Value);
        });

        app.MapGrpcServerStreaming<StringValue, StringValue>("/test.Stream/Forever", StringValue.Parser, async (request, writer, call) =>
        {
            TaskCompletionSource<bool> seen = CancellationFor(request.Value);
            try
            {
                while (true)
                {
                    await writer.WriteAsync(request);
                    await Task.Delay(10, call.CancellationToken);
                }
            }
            catch (OperationCanceledException)
            {
                seen.TrySetResult(true);
                throw;
            }
        });

        app.MapGrpcClientStreaming("/test.Stream/Sum", BytesValue.Parser, async (requests, call) =>
        {
            string id = call.GetHeader("call-id") ?? "";
            long total = 0;
            await foreach (BytesValue chunk in requests)
            {
                total += chunk.Value.Length;
                BytesReceived[id] = total;
            }

            return new Int64Value { Value = total };
        });

        app.MapGrpcClientStreaming("/test.Stream/Count", StringValue.Parser, async (requests, call) =>
        {
            long count = 0;
            await foreach (StringValue item in requests)
            {
                count++;
            }

            return new Int64Value { Value = count };
        });

        app.MapGrpcClientStreaming<StringValue, Int64Value>("/test.Stream/FailEarly", StringValue.Parser, (requests, call) =>
            throw new GrpcException(GrpcStatusCode.PermissionDenied, "no uploads for you"));
    }

    private sealed class ListLoggerProvider(ConcurrentQueue<(LogLevel, string, string, Exception?)> logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ListLogger(logs, categoryName);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ConcurrentQueue<(LogLevel, string, string, Exception?)> logs, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logs.Enqueue((logLevel, category, formatter(state, exception), exception));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class GrpcHostCollection : ICollectionFixture<GrpcTestHost>
{
    public const string Name = "grpc host";
}
