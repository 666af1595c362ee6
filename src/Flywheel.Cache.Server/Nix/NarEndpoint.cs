using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Http;

namespace Flywheel.Cache.Server.Nix;

/// <summary><c>GET|HEAD|PUT /&lt;cache&gt;/nar/&lt;filehash&gt;.nar[.ext]</c>: NAR files, streamed both ways.</summary>
internal static class NarEndpoint
{
    public static async Task GetAsync(HttpContext context, string cache, string file, CacheCatalog catalog, RequestAuthorizer auth, NixBinaryCache nix)
    {
        var c = await NixRequests.ResolveCacheAsync(context, catalog, cache);
        await auth.RequireAsync(context, c, TokenScopes.Pull);
        var blob = await nix.OpenNarAsync(c, file, context.RequestAborted);
        if (blob is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await BlobResponses.SendAsync(context, blob, "application/x-nix-nar");
    }

    public static async Task PutAsync(
        HttpContext context, string cache, string file, CacheCatalog catalog, RequestAuthorizer auth, NixBinaryCache nix, ILogger<NixBinaryCache> logger)
    {
        var c = await NixRequests.ResolveCacheAsync(context, catalog, cache);
        await auth.RequireAsync(context, c, TokenScopes.Push);
        var record = await nix.PutNarAsync(c, file, context.Request.Body, context.Request.ContentLength, context.RequestAborted);
        logger.LogInformation("cache {Cache}: stored nar/{File} ({FileSize} bytes, NAR {NarSize} bytes)", c.Name, file, record.FileSize, record.NarSize);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
