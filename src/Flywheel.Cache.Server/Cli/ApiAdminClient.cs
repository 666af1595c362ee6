using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Server.Cli;

/// <summary>Administers a running daemon through its <c>/_api/v1</c> routes with a token.</summary>
public sealed class ApiAdminClient : IAdminClient
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpClient _http;

    /// <param name="timeout">How long one call may take; default 60 s (a promotion that publishes takes longer).</param>
    public ApiAdminClient(Uri server, string token, TimeSpan? timeout = null)
    {
        _http = new HttpClient { BaseAddress = new Uri(server.ToString().TrimEnd('/') + "/_api/v1/"), Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Task<CacheView> CreateCacheAsync(CreateCacheRequest request, CancellationToken cancellationToken) =>
        SendAsync<CacheView>(HttpMethod.Post, "caches", request, cancellationToken);

    public Task<IReadOnlyList<CacheView>> ListCachesAsync(CancellationToken cancellationToken) =>
        SendAsync<IReadOnlyList<CacheView>>(HttpMethod.Get, "caches", null, cancellationToken);

    public Task<CacheView> GetCacheAsync(string name, CancellationToken cancellationToken) =>
        SendAsync<CacheView>(HttpMethod.Get, "caches/" + Uri.EscapeDataString(name), null, cancellationToken);

    public Task<CacheView> UpdateCacheAsync(string name, UpdateCacheRequest request, CancellationToken cancellationToken) =>
        SendAsync<CacheView>(HttpMethod.Patch, "caches/" + Uri.EscapeDataString(name), request, cancellationToken);

    public Task PinAsync(string cache, PinRequest request, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Post, $"caches/{Uri.EscapeDataString(cache)}/pins", request, cancellationToken);

    public Task UnpinAsync(string cache, string storePath, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Delete, $"caches/{Uri.EscapeDataString(cache)}/pins/{Uri.EscapeDataString(PinPath(storePath))}", null, cancellationToken);

    public Task<IReadOnlyList<PinView>> ListPinsAsync(string cache, CancellationToken cancellationToken) =>
        SendAsync<IReadOnlyList<PinView>>(HttpMethod.Get, $"caches/{Uri.EscapeDataString(cache)}/pins", null, cancellationToken);

    public Task<CreatedToken> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken) =>
        SendAsync<CreatedToken>(HttpMethod.Post, "tokens", request, cancellationToken);

    public Task<IReadOnlyList<TokenView>> ListTokensAsync(CancellationToken cancellationToken) =>
        SendAsync<IReadOnlyList<TokenView>>(HttpMethod.Get, "tokens", null, cancellationToken);

    public Task RevokeTokenAsync(string id, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Delete, "tokens/" + Uri.EscapeDataString(id), null, cancellationToken);

    public Task<BuildView> SubmitBuildAsync(BuildRequest request, CancellationToken cancellationToken) =>
        SendAsync<BuildView>(HttpMethod.Post, "builds", request, cancellationToken);

    public Task<BuildView> GetBuildAsync(string id, CancellationToken cancellationToken) =>
        SendAsync<BuildView>(HttpMethod.Get, "builds/" + Uri.EscapeDataString(id), null, cancellationToken);

    public Task<IReadOnlyList<LaneView>> GetLanesAsync(CancellationToken cancellationToken) =>
        SendAsync<IReadOnlyList<LaneView>>(HttpMethod.Get, "lanes", null, cancellationToken);

    public Task<Flywheel.Cache.Builds.LanesReport> GetLanesReportAsync(CancellationToken cancellationToken) =>
        SendAsync<Flywheel.Cache.Builds.LanesReport>(HttpMethod.Get, "lanes/report", null, cancellationToken);

    public Task<PromotionView> PromoteAsync(PromotionRequestBody request, CancellationToken cancellationToken) =>
        SendAsync<PromotionView>(HttpMethod.Post, "promotions", request, cancellationToken);

    public Task<PromotionView> GetPromotionAsync(string id, CancellationToken cancellationToken) =>
        SendAsync<PromotionView>(HttpMethod.Get, "promotions/" + Uri.EscapeDataString(id), null, cancellationToken);

    /// <summary>Which of these store path hashes the cache has no narinfo for (<c>POST caches/{name}/missing</c>, push).</summary>
    public Task<MissingPathsResponse> FindMissingPathsAsync(string cache, IReadOnlyList<string> storePathHashes, CancellationToken cancellationToken) =>
        SendAsync<MissingPathsResponse>(HttpMethod.Post, $"caches/{Uri.EscapeDataString(cache)}/missing", new MissingPathsRequest(storePathHashes), cancellationToken);

    /// <summary>A full store path travels as its base name (a URL path segment holds no slash).</summary>
    private static string PinPath(string storePath) => storePath.Contains('/', StringComparison.Ordinal) ? storePath[(storePath.LastIndexOf('/') + 1)..] : storePath;
    public Task<UpstreamView> AddUpstreamAsync(string cache, AddUpstreamRequest request, CancellationToken cancellationToken) =>
        SendAsync<UpstreamView>(HttpMethod.Post, UpstreamsPath(cache), request, cancellationToken);

    public Task<IReadOnlyList<UpstreamView>> ListUpstreamsAsync(string cache, CancellationToken cancellationToken) =>
        SendAsync<IReadOnlyList<UpstreamView>>(HttpMethod.Get, UpstreamsPath(cache), null, cancellationToken);

    public Task RemoveUpstreamAsync(string cache, string url, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Delete, UpstreamsPath(cache) + "?url=" + Uri.EscapeDataString(url), null, cancellationToken);

    public Task<TrustPolicyView> AddTrustPolicyAsync(string cache, AddTrustPolicyRequest request, CancellationToken cancellationToken) =>
        SendAsync<TrustPolicyView>(HttpMethod.Post, TrustPath(cache), request, cancellationToken);

    public Task<IReadOnlyList<TrustPolicyView>> ListTrustPoliciesAsync(string cache, CancellationToken cancellationToken) =>
        SendAsync<IReadOnlyList<TrustPolicyView>>(HttpMethod.Get, TrustPath(cache), null, cancellationToken);

    public Task RemoveTrustPolicyAsync(string cache, string id, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Delete, TrustPath(cache) + "/" + Uri.EscapeDataString(id), null, cancellationToken);

    private static string TrustPath(string cache) => "caches/" + Uri.EscapeDataString(cache) + "/trust";

    private static string UpstreamsPath(string cache) => "caches/" + Uri.EscapeDataString(cache) + "/upstreams";

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CacheException(CacheError.Unavailable, $"cannot reach {_http.BaseAddress}: {e.Message}", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var detail = await ReadProblemAsync(response, cancellationToken);
                throw new CacheException(FromStatus(response.StatusCode), $"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}");
            }

            if (response.StatusCode == HttpStatusCode.NoContent)
            {
                return default!;
            }

            return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken)
                ?? throw new CacheException(CacheError.Unavailable, "the server sent an empty answer");
        }
    }

    /// <summary>The <c>detail</c> of a problem-details answer, else its text.</summary>
    internal static async Task<string> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("detail", out var detail))
            {
                return detail.GetString() ?? text;
            }
        }
        catch (JsonException)
        {
            // not problem details: show the text as it is
        }

        return text.Trim();
    }

    /// <summary>The error kind of an HTTP status the daemon answered with (also for the Nix routes <c>flywheel push</c> uploads through).</summary>
    internal static CacheError FromStatus(HttpStatusCode status) => status switch
    {
        HttpStatusCode.NotFound => CacheError.NotFound,
        HttpStatusCode.Unauthorized => CacheError.Unauthenticated,
        HttpStatusCode.Forbidden => CacheError.Forbidden,
        HttpStatusCode.Conflict => CacheError.Conflict,
        HttpStatusCode.BadRequest => CacheError.Invalid,
        _ => CacheError.Unavailable,
    };

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
