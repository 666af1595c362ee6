using Flywheel.Cache.Server.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Flywheel.Cache.Tests.Server.Metrics;

public class RequestMetricsMiddlewareTests
{
    [Theory]
    [InlineData("GET", "GET")]
    [InlineData("get", "GET")]
    [InlineData("HEAD", "HEAD")]
    [InlineData("PUT", "PUT")]
    [InlineData("PROPFIND", "_OTHER")]
    [InlineData("X-RANDOM-1234", "_OTHER")]
    public void Methods_outside_the_standard_set_collapse(string method, string expected) =>
        Assert.Equal(expected, RequestMetricsMiddleware.MethodOf(method));

    [Fact]
    public void Route_is_the_pattern_with_a_leading_slash_or_unmatched()
    {
        var context = new DefaultHttpContext();
        Assert.Equal("unmatched", RequestMetricsMiddleware.RouteOf(context));

        context.SetEndpoint(new RouteEndpoint(_ => Task.CompletedTask, RoutePatternFactory.Parse("ac/{hash}"), 0, null, "ac"));
        Assert.Equal("/ac/{hash}", RequestMetricsMiddleware.RouteOf(context));

        context.SetEndpoint(new RouteEndpoint(_ => Task.CompletedTask, RoutePatternFactory.Parse("/{cache}/nix-cache-info"), 0, null, null));
        Assert.Equal("/{cache}/nix-cache-info", RequestMetricsMiddleware.RouteOf(context));
    }
}
