using System.Net;
using System.Net.Http.Headers;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Promotion.Oci;

/// <summary>
/// A client of one repository of a registry that speaks the OCI distribution spec: HEAD blob, cross-repository
/// mount, blob upload (POST then one PUT, or PATCH chunks then PUT, each streamed from the caller's stream),
/// GET and PUT manifest, with the registry's token flow (<see cref="RegistryAuthenticator"/>). Registry failures are
/// <see cref="CacheError.Unavailable"/>, refused credentials <see cref="CacheError.Forbidden"/>.
/// </summary>
public sealed class RegistryClient
{
    /// <summary>Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size.</summary>
    public const long DefaultChunkBytes = 16L * 1024 * 1024;

    /// <summary>The largest manifest read back (distribution's own limit is 4 MiB).</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly RegistryAuthenticator _auth;
    private readonly long _chunkBytes;

    public RegistryClient(HttpClient http, Uri registry, string repository, string? user, string? password, long chunkBytes = DefaultChunkBytes)
    {
        _http = http;
        _base = registry;
        Repository = repository;
        _auth = new RegistryAuthenticator(http, repository, user, password);
        _chunkBytes = chunkBytes;
    }

    public string Repository { get; }

    public async Task<bool> BlobExistsAsync(string digest, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, Path($"blobs/{digest}")), ct).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK || (response.StatusCode != HttpStatusCode.NotFound ? throw Failed("HEAD blob " + digest, response) : false);
    }

    /// <summary>Asks the registry to mount a blob from another repository; null when it did, else an upload session to use.</summary>
    public async Task<Uri?> TryMountAsync(string digest, string fromRepository, CancellationToken ct)
    {
        var uri = Path($"blobs/uploads/?mount={Uri.EscapeDataString(digest)}&from={Uri.EscapeDataString(fromRepository)}");
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, uri), ct).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.Created => null,
            HttpStatusCode.Accepted => Location(response),
            _ => throw Failed("mount " + digest, response),
        };
    }

    /// <summary>Uploads a blob of known digest and size from <paramref name="content"/>, streamed (never held whole).</summary>
    public async Task UploadAsync(string digest, long size, Stream content, Uri? session, CancellationToken ct)
    {
        session ??= await StartUploadAsync(ct).ConfigureAwait(false);
        if (size > _chunkBytes)
        {
            for (long offset = 0; offset < size;)
            {
                var length = Math.Min(_chunkBytes, size - offset);
                using var patch = new HttpRequestMessage(HttpMethod.Patch, session) { Content = Body(new ExactLengthStream(content, length), length) };
                patch.Content.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{offset + length - 1}");
                using var response = await SendOnceAsync(patch, ct).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    throw Failed($"PATCH chunk at {offset} of blob {digest}", response);
                }

                session = Location(response);
                offset += length;
            }

            using var close = new HttpRequestMessage(HttpMethod.Put, WithDigest(session, digest)) { Content = Body(Stream.Null, 0) };
            using var closed = await SendOnceAsync(close, ct).ConfigureAwait(false);
            Expect(closed, HttpStatusCode.Created, "PUT (close upload) of blob " + digest);
            return;
        }

        using var put = new HttpRequestMessage(HttpMethod.Put, WithDigest(session, digest)) { Content = Body(new ExactLengthStream(content, size), size) };
        using var done = await SendOnceAsync(put, ct).ConfigureAwait(false);
        Expect(done, HttpStatusCode.Created, "PUT blob " + digest);
    }

    /// <summary>Puts a manifest under a tag or digest; returns its digest and whether the registry took its subject (OCI-Subject).</summary>
    public async Task<(string Digest, bool SubjectAccepted)> PutManifestAsync(string reference, string mediaType, byte[] manifest, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var content = new ByteArrayContent(manifest);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return new HttpRequestMessage(HttpMethod.Put, Path($"manifests/{reference}")) { Content = content };
        }, ct).ConfigureAwait(false);
        Expect(response, HttpStatusCode.Created, $"PUT manifest {Repository}:{reference}");
        var digest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.First() : "sha256:" + BlobDigest.Compute(manifest).ToHex();
        return (digest, response.Headers.Contains("OCI-Subject"));
    }

    /// <summary>
    /// The manifest under a tag or digest, asked for as <paramref name="mediaType"/>: its bytes and media type, or null
    /// when the registry has none (404). At most <see cref="MaxManifestBytes"/> are read.
    /// </summary>
    public async Task<(byte[] Bytes, string? MediaType)?> GetManifestAsync(string reference, string mediaType, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, Path($"manifests/{reference}"));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
            return request;
        }, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        Expect(response, HttpStatusCode.OK, $"GET manifest {Repository}:{reference}");
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var bytes = await BoundedRead.ReadAtMostAsync(body, MaxManifestBytes, ct).ConfigureAwait(false)
            ?? throw new CacheException(CacheError.Unavailable, $"registry {_base}: the manifest {Repository}:{reference} is larger than {MaxManifestBytes} bytes");
        return (bytes, response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<Uri> StartUploadAsync(CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, Path("blobs/uploads/")), ct).ConfigureAwait(false);
        Expect(response, HttpStatusCode.Accepted, "POST blob upload");
        return Location(response);
    }

    /// <summary>Sends a request that has no streamed body, answering the registry's auth challenge once.</summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> create, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = create();
            var response = await SendOnceAsync(request, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized || attempt > 0 || !await _auth.AnswerAsync(response, ct).ConfigureAwait(false))
            {
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    response.Dispose();
                    throw new CacheException(CacheError.Forbidden, $"the registry {_base} refused access to {_auth.Scope} (401)");
                }

                return response;
            }

            response.Dispose();
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, CancellationToken ct)
    {
        request.Headers.Authorization = _auth.Authorization;
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new CacheException(CacheError.Unavailable, $"the registry {_base} is unreachable: {e.Message}", e);
        }
    }

    private Uri Path(string rest) => new(_base, $"v2/{Repository}/{rest}");

    private Uri Location(HttpResponseMessage response) =>
        response.Headers.Location is { } location
            ? location.IsAbsoluteUri ? location : new Uri(_base, location)
            : throw new CacheException(CacheError.Unavailable, $"the registry answered {(int)response.StatusCode} without a Location");

    private static Uri WithDigest(Uri session, string digest) =>
        new(session + (session.Query.Length > 0 ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest));

    private static StreamContent Body(Stream stream, long length)
    {
        var content = new StreamContent(stream, 64 * 1024);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = length;
        return content;
    }

    private void Expect(HttpResponseMessage response, HttpStatusCode expected, string what)
    {
        if (response.StatusCode != expected)
        {
            throw Failed(what, response);
        }
    }

    private CacheException Failed(string what, HttpResponseMessage response)
    {
        var detail = "";
        try
        {
            detail = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            detail = detail.Length > 300 ? detail[..300] : detail;
        }
        catch (HttpRequestException)
        {
            // the body is only for the message
        }

        var error = response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized ? CacheError.Forbidden : CacheError.Unavailable;
        return new CacheException(error, $"registry {_base}: {what} in {Repository} answered {(int)response.StatusCode} {detail.Trim()}");
    }

    /// <summary>The next <c>length</c> bytes of a stream the caller keeps reading after (it is not disposed).</summary>
    private sealed class ExactLengthStream(Stream inner, long length) : Stream
    {
        private long _remaining = length;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = _remaining == 0 ? 0 : inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
            return Track(read, buffer.Length);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = _remaining == 0 ? 0 : await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
            return Track(read, buffer.Length);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Track(int read, int asked)
        {
            if (read == 0 && _remaining > 0 && asked > 0)
            {
                throw CacheException.Invalid($"a blob ended {_remaining} bytes early");
            }

            _remaining -= read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            // the inner stream belongs to the caller
        }
    }
}
