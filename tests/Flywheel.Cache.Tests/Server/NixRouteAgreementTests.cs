using Flywheel.Cache.Server;
using Flywheel.Cache.Server.Hosting;
using Flywheel.Cache.Server.NixHttp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// The Nix read fast path answers GET/HEAD of <c>/{cache}/{hash}.narinfo</c> and <c>/{cache}/nix-cache-info</c> before
/// routing (issue 16: a second router that a change to the routes could miss). Every route the daemon maps is walked
/// through both: each route's pattern filled with sample values, and the Nix read files put under every route's first
/// literal segment, with every method; wherever the fast path takes a request, routing (the daemon's own endpoints,
/// through UseRouting) must choose the same route, for the same method, with the same cache and hash values. Where the
/// fast path declines, routing decides alone (that is always safe); the canonical spellings must stay on the fast path.
/// </summary>
public sealed class NixRouteAgreementTests : IAsyncLifetime
{
    private const string Hash = "0c6kzph7l0dcbqmll3b5dg4ij0ifq0sw";
    private static readonly string[] Methods = ["GET", "HEAD", "PUT", "POST", "DELETE"];

    private readonly string _data = Path.Combine(Path.GetTempPath(), "flywheel-routes-" + Guid.NewGuid().ToString("N"));
    private WebApplication _app = null!;
    private RequestDelegate _routing = null!;

    public Task InitializeAsync()
    {
        _app = FlywheelHost.Build(new Dictionary<string, string?>
        {
            [ConfigKeys.Http] = "127.0.0.1:0",
            [ConfigKeys.Grpc] = "127.0.0.1:0",
            [ConfigKeys.Data] = _data,
            [ConfigKeys.BuildsWorkers] = "0",
        });

        // Routing alone, over the daemon's own endpoints: the endpoint it selects is kept, nothing runs.
        var routes = (IEndpointRouteBuilder)_app;
        var pipeline = ((IApplicationBuilder)_app).New();
        pipeline.UseRouting();
        pipeline.Use(_ => _ => Task.CompletedTask);
        pipeline.UseEndpoints(e =>
        {
            foreach (var source in routes.DataSources)
            {
                e.DataSources.Add(source);
            }
        });
        _routing = pipeline.Build();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task Every_request_the_fast_path_takes_routing_sends_to_the_same_route_with_the_same_values()
    {
        var paths = Corpus();
        var taken = 0;
        var disagreements = new List<string>();
        foreach (var method in Methods)
        {
            foreach (var path in paths)
            {
                var fast = NixReadFastPath.Match(method, path);
                if (fast.Pattern is null)
                {
                    continue;
                }

                taken++;
                var (endpoint, values) = await RouteAsync(method, path);
                var cache = path[1..fast.Slash];
                var hash = fast.Pattern == NixRoutes.NarInfoPattern ? path[(fast.Slash + 1)..^".narinfo".Length] : null;
                if (endpoint?.RoutePattern.RawText != fast.Pattern ||
                    endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods.Contains(method) != true ||
                    values["cache"] as string != cache ||
                    (hash is not null && values["hash"] as string != hash))
                {
                    disagreements.Add(
                        $"{method} {path}: fast path {fast.Pattern} (cache {cache}, hash {hash}); routing {endpoint?.RoutePattern.RawText ?? "(none)"} " +
                        $"({string.Join(", ", values.Select(v => $"{v.Key}={v.Value}"))})");
                }
            }
        }

        Assert.True(disagreements.Count == 0, string.Join("\n", disagreements));
        Assert.True(taken > 20, $"the fast path took only {taken} requests of the corpus");
    }

    [Theory]
    [InlineData("GET", "/main/" + Hash + ".narinfo")]
    [InlineData("HEAD", "/main/" + Hash + ".narinfo")]
    [InlineData("GET", "/main/nix-cache-info")]
    [InlineData("HEAD", "/main/nix-cache-info")]
    public async Task The_canonical_reads_stay_on_the_fast_path(string method, string path)
    {
        Assert.NotNull(NixReadFastPath.Match(method, path).Pattern);
        var (endpoint, _) = await RouteAsync(method, path);
        Assert.Equal(NixReadFastPath.Match(method, path).Pattern, endpoint?.RoutePattern.RawText);
    }

    private async Task<(RouteEndpoint? Endpoint, RouteValueDictionary Values)> RouteAsync(string method, string path)
    {
        var context = new DefaultHttpContext { RequestServices = _app.Services };
        context.Request.Method = method;
        context.Request.Path = path;
        await _routing(context);
        return (context.GetEndpoint() as RouteEndpoint, context.Request.RouteValues);
    }

    /// <summary>
    /// Every mapped route's pattern with its parameters filled in; the Nix read files under every route's first
    /// literal segment (<c>/_api/x.narinfo</c>, <c>/cas/nix-cache-info</c>, ...); and spellings near the canonical ones.
    /// </summary>
    private List<string> Corpus()
    {
        var patterns = ((IEndpointRouteBuilder)_app).DataSources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Select(e => e.RoutePattern).ToList();
        Assert.Contains(patterns, p => p.RawText == NixRoutes.NarInfoPattern);
        Assert.Contains(patterns, p => p.RawText == NixRoutes.CacheInfoPattern);

        string[] samples = ["main", Hash, "x", "nar", "nix-cache-info", Hash + ".narinfo", "a.b"];
        string[] files = [Hash + ".narinfo", "x.narinfo", ".narinfo", "a.narinfo.narinfo", "nix-cache-info", "NIX-CACHE-INFO", Hash + ".NARINFO", Hash + ".ls"];
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            foreach (var sample in samples)
            {
                paths.Add("/" + string.Join('/', pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
                {
                    Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal => literal.Content,
                    Microsoft.AspNetCore.Routing.Patterns.RoutePatternSeparatorPart separator => separator.Content,
                    _ => sample,
                })))));
            }

            if (pattern.PathSegments.Count > 0 && pattern.PathSegments[0].IsSimple &&
                pattern.PathSegments[0].Parts[0] is Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart first)
            {
                foreach (var file in files)
                {
                    paths.Add($"/{first.Content}/{file}");
                    paths.Add($"/{first.Content.ToLowerInvariant()}/{file}");
                }
            }
        }

        foreach (var cache in new[] { "main", "MAIN", "m", "a.b", "a..b", "-main", "_api", "ac", "cas", "metrics", "healthz", "readyz", "nar", "log", new string('a', 64), new string('a', 65) })
        {
            foreach (var file in files)
            {
                paths.Add($"/{cache}/{file}");
                paths.Add($"/{cache}/{file}/");
                paths.Add($"//{cache}/{file}");
                paths.Add($"/{cache}//{file}");
                paths.Add($"/{cache}/nar/{file}");
            }

            paths.Add($"/{cache}");
            paths.Add($"/{cache}/");
        }

        return [.. paths.Order(StringComparer.Ordinal)];
    }
}
