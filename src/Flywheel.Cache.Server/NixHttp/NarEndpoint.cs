using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Http;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.NixHttp;

/// <summary><c>GET|HEAD|PUT /&lt;cache&gt;/nar/&lt;filehash&gt;.nar[.ext]</c>: NAR files, streamed both ways.</summary>
internal static class NarEndpoint
{
    /// <summary>
    /// A stored NAR; on a miss, a GET (never a HEAD) of a NAR that an upstream narinfo refers to is fetched from that
    /// upstream, streamed to this client as it is written to the store.
    /// </summary>
    public static async Task GetAsync(
        HttpContext context, string cache, string file, RequestAuthorizer auth, NixBinaryCache nix, UpstreamReadThrough upstreams)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Pull);
        var blob = await nix.OpenNarAsync(c, file, context.RequestAborted);
        if (blob is null && !HttpMethods.IsHead(context.Request.Method))
        {
            blob = await upstreams.OpenNarAsync(c, file, context.RequestAborted);
        }

        if (blob is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        try
        {
            await BlobResponses.SendAsync(context, blob, "application/x-nix-nar");
        }
        finally
        {
            (blob as IDisposable)?.Dispose(); // a NAR still arriving from upstream lets go of its download
        }
    }

    public static async Task PutAsync(
        HttpContext context, string cache, string file, RequestAuthorizer auth, NixBinaryCache nix, ILogger<NixBinaryCache> logger)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Push);
        var record = await nix.PutNarAsync(c, file, context.Request.Body, context.Request.ContentLength, context.RequestAborted);
        logger.LogInformation("cache {Cache}: stored nar/{File} ({FileSize} bytes, NAR {NarSize} bytes)", c.Name, file, record.FileSize, record.NarSize);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
