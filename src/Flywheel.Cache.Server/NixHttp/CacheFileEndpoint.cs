using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Http;

namespace Flywheel.Cache.Server.NixHttp;

/// <summary>
/// Auxiliary files of a cache: build logs <c>/&lt;cache&gt;/log/&lt;drv&gt;</c> and NAR listings
/// <c>/&lt;cache&gt;/&lt;hash&gt;.ls</c>, stored as blobs. They are served with the content type of their kind (logs as
/// plain text, listings as JSON) and <c>nosniff</c>, whatever the uploader sent: a log uploaded as
/// <c>text/html</c> must not become a page in a reader's browser.
/// </summary>
internal static class CacheFileEndpoint
{
    public const string LogContentType = "text/plain; charset=utf-8";
    public const string ListingContentType = "application/json";

    public static Task GetLogAsync(HttpContext context, string cache, string drv, RequestAuthorizer auth, NixBinaryCache nix) =>
        GetAsync(context, cache, auth, nix, c => LogPath(c, drv), LogContentType);

    public static Task PutLogAsync(HttpContext context, string cache, string drv, RequestAuthorizer auth, NixBinaryCache nix) =>
        PutAsync(context, cache, auth, nix, c => LogPath(c, drv), LogContentType);

    public static Task GetListingAsync(HttpContext context, string cache, string hash, RequestAuthorizer auth, NixBinaryCache nix) =>
        GetAsync(context, cache, auth, nix, _ => ListingPath(hash), ListingContentType);

    public static Task PutListingAsync(HttpContext context, string cache, string hash, RequestAuthorizer auth, NixBinaryCache nix) =>
        PutAsync(context, cache, auth, nix, _ => ListingPath(hash), ListingContentType);

    private static string LogPath(CacheContext cache, string drv)
    {
        // Validates the whole base name (hash part and name characters): nothing else reaches the index.
        StorePath.FromBaseName(drv, cache.Record.StoreDir);
        return "log/" + drv;
    }

    private static string ListingPath(string hash) =>
        StorePath.IsValidHashPart(hash)
            ? hash + ".ls"
            : throw CacheException.Invalid($"{ClientText.Quote(hash)} is not a store path hash: expected 32 nix-base32 characters");

    /// <summary>
    /// Serves the cache file at <paramref name="path"/> (404 when absent) to a client with pull on the cache, as
    /// <paramref name="contentType"/> (never the type the uploader gave).
    /// </summary>
    public static async Task GetAsync(
        HttpContext context, string cache, RequestAuthorizer auth, NixBinaryCache nix, Func<CacheContext, string> path, string contentType)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Pull);
        var found = await nix.OpenFileAsync(c, path(c), context.RequestAborted);
        if (found is not { } f)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (f.File.ContentEncoding is { } encoding)
        {
            context.Response.Headers.ContentEncoding = encoding;
        }

        await BlobResponses.SendAsync(context, f.Blob, contentType);
    }

    /// <summary>Stores the request body as the cache file at <paramref name="path"/> for a client with push on the cache.</summary>
    public static async Task PutAsync(
        HttpContext context, string cache, RequestAuthorizer auth, NixBinaryCache nix, Func<CacheContext, string> path, string contentType)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Push);
        var encoding = context.Request.Headers.ContentEncoding.ToString() is { Length: > 0 and < 32 } e ? e : null;
        await nix.PutFileAsync(c, path(c), contentType, encoding, context.Request.Body, context.Request.ContentLength, context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
