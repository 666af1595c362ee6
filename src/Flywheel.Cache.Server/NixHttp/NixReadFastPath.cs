using Flywheel.Cache.Caches;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Server.Auth;
using Flywheel.Cache.Server.Metrics;
using Flywheel.Cache.Upstream;

namespace Flywheel.Cache.Server.NixHttp;

/// <summary>
/// The two hottest reads, <c>GET|HEAD /&lt;cache&gt;/&lt;hash&gt;.narinfo</c> and <c>/&lt;cache&gt;/nix-cache-info</c>,
/// answered before routing: a path in exactly the canonical form those routes match (a valid cache name, which
/// excludes the literal first segments of other routes) goes straight to the same endpoint methods the routes call,
/// with the singletons they are given, and with the same endpoint set on the context (metrics label it by its
/// route). It skips the route matcher, the route value dictionary and the per-request service scope; anything
/// else, including every other spelling routing would accept, continues down the pipeline to routing.
/// </summary>
internal sealed class NixReadFastPath(
    RequestDelegate next, RequestAuthorizer auth, NixBinaryCache nix, UpstreamReadThrough upstreams,
    FlywheelMetrics metrics, EndpointDataSource endpoints)
{
    private const string NarInfoSuffix = ".narinfo";
    private const string CacheInfoSegment = "nix-cache-info";

    private Routes? _routes; // found on first use: the endpoints exist once the app is built

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        var match = Match(context.Request.Method, path);
        if (match.Pattern is null)
        {
            return next(context);
        }

        var routes = _routes ??= FindRoutes(endpoints);
        if (ReferenceEquals(match.Pattern, NixRoutes.NarInfoPattern))
        {
            context.SetEndpoint(routes.NarInfo);
            return NarInfoEndpoint.GetAsync(
                context, path![1..match.Slash], path[(match.Slash + 1)..^NarInfoSuffix.Length], auth, nix, upstreams, metrics);
        }

        context.SetEndpoint(routes.CacheInfo);
        return CacheInfoEndpoint.GetAsync(context, path![1..match.Slash], auth);
    }

    /// <summary>
    /// Which route the fast path answers <paramref name="method"/> <paramref name="path"/> with: the route pattern
    /// (<see cref="NixRoutes.NarInfoPattern"/> or <see cref="NixRoutes.CacheInfoPattern"/>, for GET and HEAD) and where
    /// the cache segment ends, or no pattern when routing decides. Routing must pick the same route with the same
    /// values for every path this accepts (NixRouteAgreementTests walks every route through both).
    /// </summary>
    internal static FastMatch Match(string method, string? path)
    {
        if (!(HttpMethods.IsGet(method) || HttpMethods.IsHead(method)) || path is null || path.Length < 2 || path[0] != '/')
        {
            return default;
        }

        var slash = path.IndexOf('/', 1);
        if (slash < 0 || path.IndexOf('/', slash + 1) >= 0 || !CacheNames.IsValid(path.AsSpan(1, slash - 1)))
        {
            return default;
        }

        var file = path.AsSpan(slash + 1);
        if (file.Length > NarInfoSuffix.Length && file.EndsWith(NarInfoSuffix, StringComparison.Ordinal))
        {
            return new FastMatch(NixRoutes.NarInfoPattern, slash);
        }

        return file.SequenceEqual(CacheInfoSegment) ? new FastMatch(NixRoutes.CacheInfoPattern, slash) : default;
    }

    internal readonly record struct FastMatch(string? Pattern, int Slash);

    private static Routes FindRoutes(EndpointDataSource endpoints)
    {
        Endpoint Find(string pattern) => endpoints.Endpoints.OfType<RouteEndpoint>().Single(e =>
            e.RoutePattern.RawText == pattern &&
            e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods.Contains(HttpMethods.Get) == true);

        return new Routes(Find(NixRoutes.NarInfoPattern), Find(NixRoutes.CacheInfoPattern));
    }

    private sealed record Routes(Endpoint NarInfo, Endpoint CacheInfo);
}
