using System.Net;
using System.Net.Http.Headers;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Upstream;

/// <summary>
/// HTTP to upstream binary caches: narinfo GETs (read whole, size-bounded) and NAR GETs (streamed), with the upstream's
/// Bearer token and timeout. 404, 403 and 410 are misses, as Nix treats them; any other failure, including a timeout,
/// is an <see cref="UpstreamUnavailableException"/>. One connection pool for every upstream.
/// </summary>
public sealed class UpstreamClient : IDisposable
{
    private readonly HttpClient _http;

    public UpstreamClient(HttpMessageHandler? handler = null)
    {
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.All,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // each call has its upstream's timeout
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("flywheel", "1"));
    }

    /// <summary>The narinfo of <paramref name="storePathHash"/> at the upstream, or null when it has none.</summary>
    public async ValueTask<byte[]?> GetNarInfoAsync(Upstream upstream, string storePathHash, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        var uri = new Uri(upstream.BaseUri, storePathHash + ".narinfo");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(upstream.Timeout);
        try
        {
            using var response = await SendAsync(upstream, uri, timeout.Token).ConfigureAwait(false);
            if (response is null)
            {
                return null;
            }

            if (response.Content.Headers.ContentLength > maxBytes)
            {
                throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} has {response.Content.Headers.ContentLength} bytes, more than a narinfo may ({maxBytes})");
            }

            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            return await ReadBoundedAsync(body, maxBytes, upstream, uri, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} did not answer within {upstream.Timeout.TotalSeconds:0.###}s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Starts a NAR download: the response once its headers arrived (within the upstream's timeout). A miss is
    /// <see cref="CacheError.NotFound"/>. The caller reads the body, through <see cref="UpstreamBodyStream"/> for the stall timeout.
    /// </summary>
    public async Task<HttpResponseMessage> GetNarAsync(Upstream upstream, Uri uri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(upstream.Timeout);
        try
        {
            return await SendAsync(upstream, uri, timeout.Token).ConfigureAwait(false)
                ?? throw CacheException.NotFound($"upstream {upstream.Url} no longer has {uri}");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} did not answer within {upstream.Timeout.TotalSeconds:0.###}s");
        }
        catch (HttpRequestException e)
        {
            throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} failed: {e.Message}", e);
        }
    }

    /// <summary>The response when it is a success, null for a miss; throws for anything else.</summary>
    private async Task<HttpResponseMessage?> SendAsync(Upstream upstream, Uri uri, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (upstream.Record.Token is { } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        var status = (int)response.StatusCode;
        response.Dispose();
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Forbidden or HttpStatusCode.Gone)
        {
            return null;
        }

        throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} answered {status}");
    }

    private static async Task<byte[]> ReadBoundedAsync(Stream body, int maxBytes, Upstream upstream, Uri uri, CancellationToken cancellationToken) =>
        await BoundedRead.ReadAtMostAsync(body, maxBytes, cancellationToken).ConfigureAwait(false)
            ?? throw new UpstreamUnavailableException($"upstream {upstream.Url}: {uri} is larger than a narinfo may be ({maxBytes} bytes)");

    public void Dispose() => _http.Dispose();
}
