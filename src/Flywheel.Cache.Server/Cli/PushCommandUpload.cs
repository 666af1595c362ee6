using System.Diagnostics;
using System.Net.Http.Headers;
using Flywheel.Cache.Compression;
using Flywheel.Cache.Nix;

namespace Flywheel.Cache.Server.Cli;

/// <summary>A NAR file the server has stored and verified: its name (FileHash and compression) and size.</summary>
internal sealed record PushedNar(NarFileName Name, long FileSize, long NarBytes);

/// <summary>
/// Uploads one store path through the Nix routes every <c>nix copy --to</c> uses, so the server verifies it the same
/// way: <c>PUT /&lt;cache&gt;/nar/&lt;filehash&gt;.nar[.zst|.xz]</c> (hashed, decompressed, parsed and checked against
/// its name before it is stored), then <c>PUT /&lt;cache&gt;/&lt;hash&gt;.narinfo</c> (accepted only when it matches
/// the stored NAR's FileHash, FileSize, NarHash and NarSize).
/// </summary>
internal sealed class PushUploader : IDisposable
{
    /// <summary>Bodies larger than this wait for the server's "100 Continue" before they are sent.</summary>
    internal const long ExpectContinueFrom = PushSpool.MemoryLimit;

    private readonly HttpClient _http;

    /// <summary>Where the uploads' time went, summed over paths (<c>--verbose</c>).</summary>
    public PushTimings Timings { get; } = new();
    private readonly NarCompression _compression;
    private readonly string _cache;

    public PushUploader(Uri server, string token, string cache, NarCompression compression, int connections)
    {
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = server,
            Timeout = Timeout.InfiniteTimeSpan, // a multi-GB NAR takes as long as it takes; Ctrl-C cancels
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _cache = Uri.EscapeDataString(cache);
        _compression = compression;
    }

    /// <summary>
    /// Dumps the path's NAR, compresses it (or not) and uploads it; <paramref name="progress"/> gets NAR bytes as they
    /// are read. Uncompressed NARs stream from the store path (<see cref="NarDump"/>) straight into the request; compressed ones go
    /// through a <see cref="PushSpool"/> first, because their URL names the hash of the compressed bytes.
    /// </summary>
    public async Task<PushedNar> UploadNarAsync(LocalPathInfo path, Action<long> progress, CancellationToken cancellationToken)
    {
        if (_compression == NarCompression.None)
        {
            var name = new NarFileName(path.NarHash.Digest, NarCompression.None);
            var dump = new DumpContent(path, progress);
            var sending = Stopwatch.GetTimestamp();
            await PutAsync($"nar/{name}", dump, "application/x-nix-nar", path.NarSize, cancellationToken);
            Timings.Add(ref Timings.NarPut, sending);
            return new PushedNar(name, path.NarSize, path.NarSize);
        }

        ICompressor compressor = _compression == NarCompression.Xz ? new XzCompressor() : new ZstdCompressor(contentSize: path.NarSize);
        await using var spool = new PushSpool(compressor, path.NarSize, progress);
        var reading = Stopwatch.GetTimestamp();
        await PushLocalStore.DumpAsync(path.Path, spool, cancellationToken);
        var fileHash = spool.Complete();
        var compressed = new NarFileName(fileHash, _compression);
        var put = Timings.Add(ref Timings.NarRead, reading);
        await PutAsync($"nar/{compressed}", spool.Content(), "application/x-nix-nar", spool.FileSize, cancellationToken);
        Timings.Add(ref Timings.NarPut, put);
        return new PushedNar(compressed, spool.FileSize, spool.NarBytes);
    }

    /// <summary>Makes the path visible: its narinfo, describing the NAR just stored, with the local store's signatures.</summary>
    public async Task PutNarInfoAsync(LocalPathInfo path, PushedNar nar, CancellationToken cancellationToken)
    {
        var narInfo = new NarInfo
        {
            StorePath = path.Path,
            Url = "nar/" + nar.Name,
            Compression = nar.Name.Compression.ToNarInfoName(),
            FileHash = NixHash.FromDigest(nar.Name.FileHash),
            FileSize = nar.FileSize,
            NarHash = path.NarHash,
            NarSize = path.NarSize,
            References = [.. path.References],
            Deriver = path.Deriver,
            Sigs = [.. path.Signatures],
            Ca = path.Ca,
        };
        var text = narInfo.RenderUtf8();
        var sending = Stopwatch.GetTimestamp();
        await PutAsync($"{path.Path.HashPart}.narinfo", new ByteArrayContent(text), "text/x-nix-narinfo", text.Length, cancellationToken);
        Timings.Add(ref Timings.NarInfoPut, sending);
    }

    private async Task PutAsync(string file, HttpContent content, string contentType, long length, CancellationToken cancellationToken)
    {
        using (content)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
            using var request = new HttpRequestMessage(HttpMethod.Put, $"{_cache}/{file}") { Content = content };
            // The server answers a refusal (401, 413, a bad name) before it reads the body; with 100-continue the
            // client hears it instead of a broken connection halfway through a large NAR. A small body is sent at
            // once: waiting for "100 Continue" would cost a round trip per path, more than sending it for nothing.
            request.Headers.ExpectContinue = length > ExpectContinueFrom;
            using var response = await _http.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var text = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
                throw new CacheException(
                    ApiAdminClient.FromStatus(response.StatusCode), $"PUT {file}: {(int)response.StatusCode} {response.ReasonPhrase}{(text.Length > 0 ? ": " + ClientText.Cut(text) : "")}");
            }
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>An uncompressed NAR as a request body, written into the connection as the store path is read.</summary>
    private sealed class DumpContent(LocalPathInfo path, Action<long> progress) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            await using var target = new PushPassThrough(stream, progress);
            await PushLocalStore.DumpAsync(path.Path, target, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = path.NarSize;
            return true;
        }
    }
}

/// <summary>
/// Time summed over the paths of a push, per step (several paths run at once, so the sums exceed the wall clock):
/// reading and compressing NARs, NAR PUTs (the server verifies and stores while the request is open), waiting for
/// references before a narinfo may go, narinfo PUTs.
/// </summary>
internal sealed class PushTimings
{
    public long NarRead;
    public long NarPut;
    public long ReferenceWait;
    public long NarInfoPut;

    /// <summary>Adds the time since <paramref name="from"/> to <paramref name="total"/>; returns now.</summary>
    public long Add(ref long total, long from)
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.Add(ref total, now - from);
        return now;
    }

    public string Describe() =>
        $"read+compress {Seconds(NarRead)}, NAR PUT {Seconds(NarPut)}, waiting for references {Seconds(ReferenceWait)}, narinfo PUT {Seconds(NarInfoPut)} (summed over paths)";

    public static string Seconds(long ticks) => (ticks / (double)Stopwatch.Frequency).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " s";
}
