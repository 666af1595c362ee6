using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Flywheel.Cache.Server.Ui;

/// <summary>
/// <c>GET /ui/</c>: the status page, HTML, script and style sheet embedded in the executable (<c>Ui/assets/</c>, no
/// CDN: it works offline). Every file is read once at start, gzip-compressed once, and answered from memory with a
/// strong ETag (<c>304</c> when unchanged) and a Content-Security-Policy that allows only this origin's own files:
/// no inline script or style, no framing, no form posts. The page reads the same JSON API as the CLI.
/// </summary>
internal static class UiEndpoints
{
    public const string Path = "/ui/";

    /// <summary>Only files of this origin; nothing inline (the page has no inline script or style), no plugins, no framing, no form targets.</summary>
    public const string ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'none'";

    private const string ResourcePrefix = "Flywheel.Cache.Server.Ui.assets.";

    private static readonly Dictionary<string, Asset> Assets = Load();

    public static void Map(IEndpointRouteBuilder app)
    {
        // One endpoint for /ui and /ui/ (routing ignores a trailing slash): the page is at /ui/, so that its files resolve relative to it.
        app.MapGet("/ui", (HttpContext context) =>
        {
            if (context.Request.Path.Value!.EndsWith('/'))
            {
                return Serve(context, "index.html");
            }

            context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
            context.Response.Headers.Location = Path;
            return Task.CompletedTask;
        });
        app.MapGet(Path + "{file}", (HttpContext context, string file) => Serve(context, file));
    }

    private static Task Serve(HttpContext context, string file)
    {
        var response = context.Response;
        if (!Assets.TryGetValue(file, out var asset))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.CacheControl = "no-cache"; // revalidated with the ETag: a new daemon's page is seen at once
        headers.ETag = asset.ETag;
        headers.Vary = HeaderNames.AcceptEncoding;
        headers["Referrer-Policy"] = "no-referrer";
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }

        response.ContentType = asset.ContentType;
        var gzip = AcceptsGzip(context.Request.Headers.AcceptEncoding);
        var body = gzip ? asset.Gzip : asset.Bytes;
        if (gzip)
        {
            headers.ContentEncoding = "gzip";
        }

        response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static bool AcceptsGzip(StringValues acceptEncoding)
    {
        foreach (var value in acceptEncoding)
        {
            if (value is not null && value.Contains("gzip", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static Dictionary<string, Asset> Load()
    {
        var assembly = typeof(UiEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            using var compressed = new MemoryStream();
            using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                gzip.Write(bytes);
            }

            var file = name[ResourcePrefix.Length..];
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..20] + "\"";
            assets[file] = new Asset(ContentTypeOf(file), bytes, compressed.ToArray(), etag);
        }

        return assets.Count > 0 ? assets : throw new InvalidOperationException($"the status page's files are not embedded ({ResourcePrefix}*)");
    }

    private static string ContentTypeOf(string file) => System.IO.Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => throw new InvalidOperationException($"no content type for the embedded file {file}"),
    };

    private sealed record Asset(string ContentType, byte[] Bytes, byte[] Gzip, string ETag);
}
