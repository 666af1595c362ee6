using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Build.Bazel.Remote.Execution.V2;
using Google.Bytestream;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Flywheel.Cache.Benchmarks.Load;

/// <summary>
/// <c>load &lt;scenario&gt;</c>: the load bench/load/run.sh cannot get from wrk. gRPC through the generated clients on
/// Grpc.Net.Client (h2load cannot stream ByteStream messages), and uploads of new bytes on every call over
/// HTTP/1.1 (wrk repeats one body, and a store that has a blob need not write it again), the same for nginx and us.
/// Each scenario seeds what it needs, warms up for <c>--warmup</c> seconds (default 2, not measured), then repeats one
/// call for <c>--duration</c> seconds on <c>--concurrency</c> callers and prints one JSON object: calls, calls/s, MB/s over the time spent in calls, p50/p99 latency.
/// Scenarios: <c>findmissing</c> (<c>--count</c> digests per call, half of them stored), <c>getactionresult</c> (one
/// stored ActionResult naming one stored output, the completeness check included) and <c>http-getactionresult</c>
/// (the same entry by HTTP <c>GET --url</c> + the action's hex SHA-256, as Bazel's HTTP cache asks), <c>bytestream-read</c> and
/// <c>bytestream-write</c> (<c>--size</c> bytes per call), <c>http-get</c> (GET <c>--url</c>, <c>--size</c> bytes expected,
/// the body read and discarded as wrk does), <c>http-put</c> (<c>--size</c> bytes PUT to
/// <c>--url</c> + the hex SHA-256). Uploaded bytes are new on every call and hashed before the timed call starts.
/// <c>--identity-only</c> accepts no response compression (by default the channel offers gzip, as Bazel's does).
/// The channel is set up as Bazel's client (grpc-java on Netty) would be: one HTTP/2 connection, a 1 MiB stream
/// window; ByteStream Read counts each message's data bytes without copying them into a ByteString.
/// </summary>
public static class LoadCommand
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>grpc-java's NettyChannelBuilder.DEFAULT_FLOW_CONTROL_WINDOW, the HTTP/2 window Bazel 4's client starts with.</summary>
    private const int BazelStreamWindow = 1024 * 1024;

    public static async Task<int> RunAsync(string[] args)
    {
        var scenario = args.FirstOrDefault() ?? throw new ArgumentException("load: name a scenario (findmissing, bytestream-read, bytestream-write)");
        var grpc = new Uri(Option(args, "--grpc") ?? "http://127.0.0.1:9092/");
        var token = Option(args, "--token");
        var instance = Option(args, "--instance") ?? "main";
        var duration = TimeSpan.FromSeconds(double.Parse(Option(args, "--duration") ?? "10", System.Globalization.CultureInfo.InvariantCulture));
        var size = long.Parse(Option(args, "--size") ?? (64L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
        var count = int.Parse(Option(args, "--count") ?? "10000", System.Globalization.CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Option(args, "--concurrency") ?? "1", System.Globalization.CultureInfo.InvariantCulture);
        var warmup = TimeSpan.FromSeconds(double.Parse(Option(args, "--warmup") ?? "2", System.Globalization.CultureInfo.InvariantCulture));

        var channelOptions = new GrpcChannelOptions
        {
            MaxReceiveMessageSize = 64 * 1024 * 1024,
            MaxSendMessageSize = 64 * 1024 * 1024,
            HttpHandler = new SocketsHttpHandler
            {
                // What Bazel's client (grpc-java on Netty, NettyChannelBuilder's default flow-control window)
                // advertises per stream: 1 MiB. SocketsHttpHandler's own start is 64 KiB, grown by its RTT
                // estimate, which on loopback keeps the window small and the server waiting for WINDOW_UPDATEs.
                InitialHttp2StreamWindowSize = BazelStreamWindow,
                EnableMultipleHttp2Connections = false, // one connection per channel, as Netty's
            },
        };
        if (args.Contains("--identity-only"))
        {
            // grpc-accept-encoding: identity, so the server never compresses (the default also offers gzip, as Bazel does)
            channelOptions.CompressionProviders = [];
        }

        using var channel = GrpcChannel.ForAddress(grpc, channelOptions);
        var client = new Clients(
            new ContentAddressableStorage.ContentAddressableStorageClient(channel), new ByteStream.ByteStreamClient(channel), new ActionCache.ActionCacheClient(channel),
            channel.CreateCallInvoker());
        var headers = new Metadata();
        if (token is not null)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        CallOptions Options() => new(headers);

        Func<int, Func<Task<long>>> prepare = scenario switch
        {
            "findmissing" => await FindMissingAsync(client, Options, instance, count),
            "getactionresult" => await GetActionResultAsync(client, Options, instance, null, token),
            "http-getactionresult" => await GetActionResultAsync(client, Options, instance, new Uri(Option(args, "--url") ?? throw new ArgumentException("http-getactionresult needs --url")), token),
            "bytestream-read" => await ReadAsync(client, Options, instance, size),
            "bytestream-write" => NewContent(size, (content, hash) => () => WriteBlobAsync(client, Options(), instance, content, hash)),
            "http-get" => HttpGet(new Uri(Option(args, "--url") ?? throw new ArgumentException("http-get needs --url")), token, size),
            "http-put" => HttpPut(new Uri(Option(args, "--url") ?? throw new ArgumentException("http-put needs --url")), token, size),
            _ => throw new ArgumentException($"load: unknown scenario '{scenario}'"),
        };

        // Warm-up first (not measured): the gateway's JIT tiers up the code this scenario runs, as in a daemon that
        // has been serving for a while. Warm-up calls use their own ids, so measured uploads are still new bytes.
        if (warmup > TimeSpan.Zero)
        {
            await RunCallsAsync(prepare, concurrency, warmup, firstId: 1 << 19, new List<double>[concurrency], new long[concurrency], new TimeSpan[concurrency]);
        }

        var latencies = new List<double>[concurrency];
        var bytes = new long[concurrency];
        var busy = new TimeSpan[concurrency];
        var wall = Stopwatch.StartNew();
        await RunCallsAsync(prepare, concurrency, duration, firstId: 0, latencies, bytes, busy);
        wall.Stop();

        var all = latencies.SelectMany(l => l).Order().ToArray();
        var seconds = wall.Elapsed.TotalSeconds;
        var busySeconds = busy.Sum(b => b.TotalSeconds) / concurrency;
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["scenario"] = scenario,
            ["calls"] = all.Length,
            ["seconds"] = Math.Round(seconds, 3),
            ["calls_per_s"] = Math.Round(all.Length / seconds, 1),
            ["mb_per_s"] = Math.Round(bytes.Sum() / 1e6 / busySeconds, 1),
            ["p50_ms"] = Math.Round(Percentile(all, 0.50), 3),
            ["p99_ms"] = Math.Round(Percentile(all, 0.99), 3),
        }));
        return 0;
    }

    /// <summary>
    /// Repeats the call on <paramref name="concurrency"/> workers for <paramref name="duration"/> (each at least once);
    /// call ids are the worker's number in the high bits and <paramref name="firstId"/> + iteration in the low 20.
    /// </summary>
    private static Task RunCallsAsync(
        Func<int, Func<Task<long>>> prepare, int concurrency, TimeSpan duration, int firstId, List<double>[] latencies, long[] bytes, TimeSpan[] busy)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        return Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            latencies[worker] = [];
            var iteration = 0;
            while (Stopwatch.GetTimestamp() < end || iteration == 0)
            {
                var timed = prepare((worker << 20) | (firstId + iteration));
                var start = Stopwatch.GetTimestamp();
                bytes[worker] += await timed();
                var elapsed = Stopwatch.GetElapsedTime(start);
                busy[worker] += elapsed;
                latencies[worker].Add(elapsed.TotalMilliseconds);
                iteration++;
            }
        })));
    }

    /// <summary>Seeds, then returns what prepares a call (untimed, e.g. hashing the next upload) and hands back the timed call.</summary>
    private static async Task<Func<int, Func<Task<long>>>> FindMissingAsync(Clients client, Func<CallOptions> options, string instance, int count)
    {
        // Unique per run, so earlier runs against the same gateway change nothing; every other digest is stored.
        var run = RandomNumberGenerator.GetBytes(8);
        var request = new FindMissingBlobsRequest { InstanceName = instance };
        var seed = new BatchUpdateBlobsRequest { InstanceName = instance };
        for (var i = 0; i < count; i++)
        {
            var content = run.Concat(BitConverter.GetBytes(i)).ToArray();
            var digest = new Digest { Hash = Convert.ToHexStringLower(SHA256.HashData(content)), SizeBytes = content.Length };
            request.BlobDigests.Add(digest);
            if (i % 2 == 0)
            {
                seed.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = ByteString.CopyFrom(content) });
            }

            if (seed.Requests.Count == 1000 || (i == count - 1 && seed.Requests.Count > 0))
            {
                await client.Cas.BatchUpdateBlobsAsync(seed, options());
                seed = new BatchUpdateBlobsRequest { InstanceName = instance };
            }
        }

        return _ => async () =>
        {
            var response = await client.Cas.FindMissingBlobsAsync(request, options());
            if (response.MissingBlobDigests.Count != count / 2)
            {
                throw new InvalidOperationException($"FindMissingBlobs reported {response.MissingBlobDigests.Count} missing, expected {count / 2}");
            }

            return 0;
        };
    }

    /// <summary>
    /// Seeds one ActionResult naming one stored 1 KiB output (new per run), then reads it back per call: over gRPC
    /// (<paramref name="http"/> null) or by HTTP GET <paramref name="http"/> + the action's hex SHA-256.
    /// </summary>
    private static async Task<Func<int, Func<Task<long>>>> GetActionResultAsync(Clients client, Func<CallOptions> options, string instance, Uri? http, string? token)
    {
        var output = RandomNumberGenerator.GetBytes(1024);
        var outputDigest = new Digest { Hash = Convert.ToHexStringLower(SHA256.HashData(output)), SizeBytes = output.Length };
        var seed = new BatchUpdateBlobsRequest { InstanceName = instance };
        seed.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = outputDigest, Data = ByteString.CopyFrom(output) });
        await client.Cas.BatchUpdateBlobsAsync(seed, options());
        var action = RandomNumberGenerator.GetBytes(64);
        var actionDigest = new Digest { Hash = Convert.ToHexStringLower(SHA256.HashData(action)), SizeBytes = action.Length };
        var result = new ActionResult { ExitCode = 0 };
        result.OutputFiles.Add(new OutputFile { Path = "bazel-out/k8-fastbuild/bin/out", Digest = outputDigest });
        await client.ActionCache.UpdateActionResultAsync(
            new UpdateActionResultRequest { InstanceName = instance, ActionDigest = actionDigest, ActionResult = result }, options());

        if (http is null)
        {
            var request = new GetActionResultRequest { InstanceName = instance, ActionDigest = actionDigest };
            return _ => async () =>
            {
                var response = await client.ActionCache.GetActionResultAsync(request, options());
                return response.OutputFiles.Count == 1 ? 0 : throw new InvalidOperationException("GetActionResult lost the output file");
            };
        }

        var httpClient = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromMinutes(1) };
        if (token is not null)
        {
            httpClient.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        var url = new Uri(http, actionDigest.Hash);
        return _ => async () =>
        {
            var bytes = await httpClient.GetByteArrayAsync(url);
            return ActionResult.Parser.ParseFrom(bytes).OutputFiles.Count == 1 ? 0 : throw new InvalidOperationException("GET /ac/ lost the output file");
        };
    }

    private static async Task<Func<int, Func<Task<long>>>> ReadAsync(Clients client, Func<CallOptions> options, string instance, long size)
    {
        var content = RandomNumberGenerator.GetBytes(checked((int)size));
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        await WriteBlobAsync(client, options(), instance, content, hash);
        var request = new ReadRequest { ResourceName = $"{instance}/blobs/{hash}/{size}" };
        return _ => async () =>
        {
            long received = 0;
            using var call = client.Invoker.AsyncServerStreamingCall(ReadDataLengths, null, options(), request);
            await foreach (var message in call.ResponseStream.ReadAllAsync())
            {
                received += message.Bytes;
            }

            return received == size ? received : throw new InvalidOperationException($"read {received} of {size} bytes");
        };
    }

    /// <summary>
    /// ByteStream.Read as the generated client calls it, but each ReadResponse is answered with its data field's
    /// length instead of a ByteString copy of the bytes: the received message is looked at and dropped, as wrk
    /// drops an HTTP body, so the driver measures the server and the transport, not a copy per message of its own.
    /// </summary>
    private static readonly Method<ReadRequest, DataLength> ReadDataLengths = new(
        MethodType.ServerStreaming,
        ByteStream.Descriptor.FullName,
        "Read",
        Marshallers.Create(static (ReadRequest r) => r.ToByteArray(), ReadRequest.Parser.ParseFrom),
        Marshallers.Create<DataLength>(
            static (_, _) => throw new NotSupportedException("the driver sends no ReadResponse"),
            static context => new DataLength(DataLengthOf(context.PayloadAsReadOnlySequence()))));

    /// <summary>ReadResponse.data's length: the message is the one field (tag 0x52, varint length, bytes), or it is parsed.</summary>
    private static int DataLengthOf(System.Buffers.ReadOnlySequence<byte> message)
    {
        var reader = new System.Buffers.SequenceReader<byte>(message);
        if (reader.TryRead(out var tag) && tag == 0x52)
        {
            var length = 0;
            for (var shift = 0; shift < 35 && reader.TryRead(out var b); shift += 7)
            {
                length |= (b & 0x7F) << shift;
                if (b < 0x80)
                {
                    if (reader.Remaining == length)
                    {
                        return length;
                    }

                    break;
                }
            }
        }

        return ReadResponse.Parser.ParseFrom(message).Data.Length;
    }

    /// <summary>Per call: the bytes of a new blob (the first 16 bytes name this run and call) and their hex SHA-256.</summary>
    private static Func<int, Func<Task<long>>> NewContent(long size, Func<byte[], string, Func<Task<long>>> timed)
    {
        var template = RandomNumberGenerator.GetBytes(checked((int)size));
        var buffers = new System.Collections.Concurrent.ConcurrentDictionary<int, byte[]>();
        var run = RandomNumberGenerator.GetBytes(8);
        return id =>
        {
            var content = buffers.GetOrAdd(id >> 20, _ => (byte[])template.Clone());
            run.CopyTo(content, 0);
            BitConverter.GetBytes((long)id).CopyTo(content, 8);
            return timed(content, Convert.ToHexStringLower(SHA256.HashData(content)));
        };
    }

    /// <summary>GETs <paramref name="url"/> (e.g. a 64 MiB CAS blob), reading the body into one reused buffer per caller and discarding it, as wrk does.</summary>
    private static Func<int, Func<Task<long>>> HttpGet(Uri url, string? token, long size)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromMinutes(5) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        var buffers = new System.Collections.Concurrent.ConcurrentDictionary<int, byte[]>();
        return id => async () =>
        {
            var buffer = buffers.GetOrAdd(id >> 20, _ => new byte[256 * 1024]);
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync();
            long received = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                received += read;
            }

            return received == size ? received : throw new InvalidOperationException($"GET {url}: {received} of {size} bytes");
        };
    }

    private static Func<int, Func<Task<long>>> HttpPut(Uri url, string? token, long size)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromMinutes(5) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return NewContent(size, (content, hash) => async () =>
        {
            using var response = await http.PutAsync(new Uri(url, hash), new ByteArrayContent(content));
            return response.IsSuccessStatusCode
                ? content.Length
                : throw new InvalidOperationException($"PUT {url}{hash}: HTTP {(int)response.StatusCode}");
        });
    }

    private static async Task<long> WriteBlobAsync(Clients client, CallOptions options, string instance, byte[] content, string hash)
    {
        var resource = $"{instance}/uploads/{Guid.NewGuid()}/blobs/{hash}/{content.Length}";
        using var call = client.ByteStream.Write(options);
        foreach (var message in Chunks(resource, content))
        {
            await call.RequestStream.WriteAsync(message);
        }

        await call.RequestStream.CompleteAsync();
        var response = await call.ResponseAsync;
        return response.CommittedSize == content.Length
            ? content.Length
            : throw new InvalidOperationException($"Write committed {response.CommittedSize} of {content.Length} bytes");
    }

    private static IEnumerable<WriteRequest> Chunks(string resource, byte[] content)
    {
        for (var offset = 0; offset < content.Length || offset == 0; offset += ChunkSize)
        {
            var length = Math.Min(ChunkSize, content.Length - offset);
            yield return new WriteRequest
            {
                ResourceName = offset == 0 ? resource : "",
                WriteOffset = offset,
                Data = UnsafeByteOperations.UnsafeWrap(content.AsMemory(offset, length)),
                FinishWrite = offset + length == content.Length,
            };
        }
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>What the driver keeps of a ReadResponse: its data's length (a response type must be a class).</summary>
    private sealed record DataLength(int Bytes);

    private sealed record Clients(
        ContentAddressableStorage.ContentAddressableStorageClient Cas, ByteStream.ByteStreamClient ByteStream, ActionCache.ActionCacheClient ActionCache,
        CallInvoker Invoker);
}
