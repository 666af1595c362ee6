using System.Net;
using Flywheel.Cache.Server.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Flywheel.Cache.Tests.Server.Metrics;

/// <summary>A real Kestrel host on 127.0.0.1 with the middleware and the /metrics endpoint.</summary>
public sealed class MetricsEndpointTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddFlywheelMetrics();

        _app = builder.Build();
        _app.UseRequestMetrics();
        _app.MapGet("/{cache}/{hash}.narinfo", (string cache, string hash, FlywheelMetrics metrics) =>
        {
            var hit = hash == "known";
            metrics.RecordNarInfoLookup(cache, hit);
            return hit ? Results.Bytes("StorePath: /nix/store/known-x\n"u8.ToArray(), "text/x-nix-narinfo") : Results.NotFound();
        });
        _app.MapPut("nar/{file}", async (HttpRequest request) =>
        {
            await request.Body.CopyToAsync(Stream.Null);
            return Results.NoContent();
        });
        _app.MapGet("/boom", IResult () => throw new InvalidOperationException("boom"));
        _app.MapPrometheusMetrics("/metrics");
        await _app.StartAsync();

        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _client = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Metrics_count_requests_by_route_pattern_method_and_status()
    {
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/main/known.narinfo")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/main/known.narinfo")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/ci/missing.narinfo")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/no/such/path")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PutAsync("/nar/abc.nar.xz", new ByteArrayContent(new byte[1234]))).StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, (await _client.GetAsync("/boom")).StatusCode);

        // The middleware records after the response went out, so the client may get there first: poll briefly.
        var text = await ScrapeUntilAsync("flywheel_http_requests_total{method=\"GET\",route=\"/boom\",status=\"500\"} 1\n");

        Assert.Contains("flywheel_http_requests_total{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"200\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_http_requests_total{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"404\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_http_requests_total{method=\"PUT\",route=\"/nar/{file}\",status=\"204\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_http_received_bytes_total{route=\"/nar/{file}\"} 1234\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_http_sent_bytes_total{route=\"/{cache}/{hash}.narinfo\"} 60\n", text, StringComparison.Ordinal); // 2 × 30 bytes
        Assert.Contains("flywheel_http_request_duration_seconds_count{method=\"GET\",route=\"/{cache}/{hash}.narinfo\",status=\"200\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_narinfo_lookups_total{cache=\"main\",result=\"hit\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_narinfo_lookups_total{cache=\"ci\",result=\"miss\"} 1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("/main/known", text, StringComparison.Ordinal);
        Assert.DoesNotContain("/no/such/path", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_endpoint_speaks_the_prometheus_text_format_with_the_library_process_metrics()
    {
        using var response = await _client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());

        // prometheus-net's process and runtime metrics (DotNetStats), under its names.
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE process_cpu_seconds_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE process_start_time_seconds gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE process_working_set_bytes gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE dotnet_total_memory_bytes gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_collection_count_total{generation=\"0\"} ", text, StringComparison.Ordinal);
        Assert.True(text.EndsWith('\n'));
    }

    [Fact]
    public async Task Metrics_endpoint_answers_openmetrics_when_the_scraper_asks_for_it()
    {
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/main/known.narinfo")).StatusCode);
        await ScrapeUntilAsync("flywheel_narinfo_lookups_total{cache=\"main\",result=\"hit\"} 1\n");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Accept.ParseAdd("application/openmetrics-text; version=1.0.0");
        using var response = await _client.SendAsync(request);
        Assert.Equal("application/openmetrics-text", response.Content.Headers.ContentType!.MediaType);

        // The family is named without _total there, its samples keep the names dashboards query.
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE flywheel_narinfo_lookups counter\n", text, StringComparison.Ordinal);
        Assert.Contains("flywheel_narinfo_lookups_total{cache=\"main\",result=\"hit\"} 1.0\n", text, StringComparison.Ordinal);
        Assert.EndsWith("# EOF\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_host_counts_in_a_registry_of_its_own()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddFlywheelMetrics();
        await using var other = builder.Build();
        var otherMetrics = other.Services.GetRequiredService<FlywheelMetrics>();
        otherMetrics.RecordNarInfoLookup("elsewhere", hit: true);

        var mine = _app.Services.GetRequiredService<FlywheelMetrics>();
        Assert.NotSame(mine.Registry, otherMetrics.Registry);
        Assert.NotSame(Prometheus.Metrics.DefaultRegistry, mine.Registry);
        Assert.Equal(1, otherMetrics.NarInfoLookups.WithLabels("elsewhere", "hit").Value);
        Assert.DoesNotContain("elsewhere", await _client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    private async Task<string> ScrapeUntilAsync(string expected)
    {
        var text = "";
        for (var attempt = 0; attempt < 50; attempt++)
        {
            text = await _client.GetStringAsync("/metrics");
            if (text.Contains(expected, StringComparison.Ordinal))
            {
                return text;
            }

            await Task.Delay(20);
        }

        Assert.Fail("/metrics never showed " + expected + "\n" + text);
        return text;
    }
}
