using Flywheel.Cache.Builds;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.NixHttp;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// <c>/_api/v1/builds</c>: submit a Nix build (push on its cache), read one or list them (pull on the cache), read the
/// log of its newest attempt (<c>/builds/{id}/log</c>; workers store there the logs of attempts that ended before
/// evaluation, which have no derivation to file them under); and
/// <c>/_api/v1/lanes</c>: the lanes with their live workers, the lane recommendation for an installable, with its
/// reasoning, and the lanes report.
/// </summary>
internal static class BuildsApi
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapPost("/builds", SubmitAsync);
        api.MapGet("/builds/{id}", GetAsync);
        api.MapGet("/builds", ListAsync);
        api.MapGet("/builds/{id}/log", GetLogAsync);
        api.MapPut("/builds/{id}/log", PutLogAsync);
        api.MapGet("/lanes", ListLanesAsync);
        api.MapGet("/lanes/recommendation", RecommendAsync);
        api.MapGet("/lanes/report", ReportAsync);
    }

    private static async Task<IResult> SubmitAsync(HttpContext context, ApiBodies bodies, BuildQueue queue, RequestAuthorizer auth, ILogger<BuildQueue> logger)
    {
        await auth.RequireScopeAsync(context, TokenScopes.Push); // before the body: it names the cache
        var request = await bodies.ReadJsonAsync<BuildRequest>(context);
        var cache = await auth.ResolveAsync(context, request.Cache ?? throw CacheException.Invalid("a build needs 'cache'"), TokenScopes.Push);
        var build = await queue.SubmitAsync(cache.Name, request.Installable ?? "", request.Lane, context.RequestAborted);
        logger.LogInformation("build {Build} of {Installable} queued on {Lane} for cache {Cache}", build.Id, build.Installable, build.Lane, build.Cache);
        return Results.Created($"/_api/v1/builds/{build.Id}", BuildView.From(build, []));
    }

    private static async Task<IResult> GetAsync(HttpContext context, string id, IBuildStore builds, CacheCatalog catalog, RequestAuthorizer auth)
    {
        await auth.RequireAuthenticatedAsync(context);
        var build = await FindAsync(context, id, TokenScopes.Pull, builds, catalog, auth);
        var attempts = await builds.ListBuildAttemptsAsync(id, null, BuildWorkerLimits.MaxAttemptsShown, context.RequestAborted);
        return Results.Ok(BuildView.From(build, attempts));
    }

    /// <summary>The newest attempt's log, wherever it is filed (pull on the build's cache); 404 before there is one.</summary>
    private static async Task GetLogAsync(HttpContext context, string id, IBuildStore builds, CacheCatalog catalog, RequestAuthorizer auth, NixBinaryCache nix)
    {
        var build = await FindAsync(context, id, TokenScopes.Pull, builds, catalog, auth);
        if (build.LogPath is not { } path)
        {
            throw CacheException.NotFound($"build {ClientText.Quote(id)} has no log yet");
        }

        await CacheFileEndpoint.GetAsync(context, build.Cache, auth, nix, _ => path, CacheFileEndpoint.LogContentType);
    }

    /// <summary>Stores the log of the build's current attempt at <see cref="BuildRecord.AttemptLogPath"/> (push on the build's cache).</summary>
    private static async Task PutLogAsync(HttpContext context, string id, IBuildStore builds, CacheCatalog catalog, RequestAuthorizer auth, NixBinaryCache nix)
    {
        var build = await FindAsync(context, id, TokenScopes.Push, builds, catalog, auth);
        await CacheFileEndpoint.PutAsync(context, build.Cache, auth, nix, _ => build.AttemptLogPath, CacheFileEndpoint.LogContentType);
    }

    /// <summary>The build when the request may do <paramref name="needed"/> on its cache; a build of a cache the caller may not discover is answered as one that does not exist.</summary>
    private static async Task<BuildRecord> FindAsync(
        HttpContext context, string id, TokenScopes needed, IBuildStore builds, CacheCatalog catalog, RequestAuthorizer auth)
    {
        var missing = CacheException.NotFound($"no build {ClientText.Quote(id)}");
        var build = await builds.GetBuildAsync(id, context.RequestAborted) ?? throw missing;
        _ = await auth.AuthorizeAsync(context, await catalog.FindAsync(build.Cache, context.RequestAborted), needed) ?? throw missing;
        return build;
    }

    private static async Task<IResult> ListAsync(
        HttpContext context, IBuildStore builds, CacheCatalog catalog, RequestAuthorizer auth,
        string? cache = null, string? installable = null, string? status = null, int limit = 100)
    {
        var token = await auth.RequireAuthenticatedAsync(context);
        var found = await builds.ListBuildsAsync(
            new BuildQuery(cache, installable, status is null ? null : BuildView.ParseStatus(status), Math.Clamp(limit, 1, 1000)), context.RequestAborted);
        var readable = (await catalog.ListAsync(context.RequestAborted)).Where(c => RequestAuthorizer.MayRead(token, c)).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var visible = found.Where(b => readable.Contains(b.Cache)); // what GET /builds/{id} would answer
        return Results.Ok(visible.Select(b => BuildView.From(b, [])));
    }

    private static async Task<IResult> RecommendAsync(HttpContext context, BuildQueue queue, RequestAuthorizer auth, string? installable = null)
    {
        await auth.RequireAuthenticatedAsync(context);
        Installable.Parse(installable ?? "");
        var r = await queue.RecommendAsync(installable!, context.RequestAborted);
        return Results.Ok(new RecommendationView(installable!, r.Lane.Name, r.Lane.MemoryBytes, r.Explanation, r.PeakPercentileBytes, r.NeededBytes));
    }

    /// <summary>Every lane with its envelope and the workers that polled for its builds within the live window.</summary>
    private static async Task<IResult> ListLanesAsync(
        HttpContext context, IBuildWorkerStore workers, LaneSet lanes, BuildHosting.BuildOptions builds, TimeProvider time, RequestAuthorizer auth)
    {
        await auth.RequireAuthenticatedAsync(context);
        var live = await LaneWorkers.ReadAsync(workers, lanes, builds.WorkerLiveWindow, time, context.RequestAborted);
        return Results.Ok(live.Select(LaneView.From));
    }

    private static async Task<IResult> ReportAsync(HttpContext context, IBuildStore builds, LaneSet lanes, RequestAuthorizer auth)
    {
        await auth.RequireAuthenticatedAsync(context);
        return Results.Ok(await LanesReport.ReadAsync(builds, lanes, context.RequestAborted));
    }
}

internal static class BuildWorkerLimits
{
    public const int MaxAttemptsShown = 20;
}
