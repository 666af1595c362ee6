using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Http;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.NixHttp;

/// <summary><c>GET|HEAD|PUT /&lt;cache&gt;/&lt;hash&gt;.narinfo</c>. GET and HEAD are the hottest path of the daemon.</summary>
internal static class NarInfoEndpoint
{
    public const string ContentType = "text/x-nix-narinfo";

    /// <summary>
    /// Our own narinfo first; on a miss, GET and HEAD alike read the narinfo through from the cache's upstreams (Nix asks
    /// HEAD before <c>nix copy --from</c>, so both must give one answer). Neither pulls a NAR: that is the NAR GET's job.
    /// </summary>
    public static async Task GetAsync(
        HttpContext context, string cache, string hash, RequestAuthorizer auth, NixBinaryCache nix,
        UpstreamReadThrough upstreams, FlywheelMetrics metrics)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Pull);
        var text = await nix.GetNarInfoAsync(c, hash, context.RequestAborted);
        text ??= await upstreams.GetNarInfoAsync(c, hash, context.RequestAborted);

        metrics.RecordNarInfoLookup(c.Name, text is not null);
        if (text is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        context.Response.ContentType = ContentType;
        context.Response.ContentLength = text.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(text, context.RequestAborted);
        }
    }

    public static async Task PutAsync(
        HttpContext context, string cache, string hash, RequestAuthorizer auth, NixBinaryCache nix, FlywheelMetrics metrics, ILogger<NixBinaryCache> logger)
    {
        var c = await auth.ResolveAsync(context, cache, TokenScopes.Push);
        var body = await RequestBodies.ReadSmallAsync(context.Request, nix.Limits.MaxNarInfoBytes, "narinfo");
        var record = await nix.PutNarInfoAsync(c, hash, body, context.RequestAborted);
        metrics.RecordNarInfoUpload(c.Name);
        logger.LogInformation("cache {Cache}: stored narinfo {StorePath} ({NarSize} NAR bytes)", c.Name, record.StorePath, record.NarSize);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
