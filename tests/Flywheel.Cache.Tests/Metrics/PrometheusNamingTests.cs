using Flywheel.Cache.Server.Metrics;

namespace Flywheel.Cache.Tests.Metrics;

public class PrometheusNamingTests
{
    private static readonly string[] Unprefixed = ["process_", "dotnet_"];

    [Theory]
    [InlineData("flywheel.http.requests", "{request}", true, "flywheel_http_requests_total")]
    [InlineData("flywheel.http.request.duration", "s", false, "flywheel_http_request_duration_seconds")]
    [InlineData("flywheel.http.received", "By", true, "flywheel_http_received_bytes_total")]
    [InlineData("flywheel.latency", "ms", false, "flywheel_latency_milliseconds")]
    [InlineData("flywheel.disk.usage", "1", false, "flywheel_disk_usage_ratio")]
    [InlineData("flywheel.errors", "1", true, "flywheel_errors_total")]
    [InlineData("flywheel.throughput", "By/s", false, "flywheel_throughput_bytes_per_second")]
    [InlineData("flywheel.size_bytes", "By", false, "flywheel_size_bytes")]
    [InlineData("flywheel.sent_bytes_total", "By", true, "flywheel_sent_bytes_total")]
    [InlineData("flywheel.requests_total", "{request}", true, "flywheel_requests_total")]
    [InlineData("flywheel.memory", "MiBy", false, "flywheel_memory_mebibytes")]
    [InlineData("flywheel.weird-name/x..y", null, false, "flywheel_weird_name_x_y")]
    [InlineData("flywheel.widgets", "widget", false, "flywheel_widgets_widget")]
    [InlineData("cache.hits", null, true, "flywheel_cache_hits_total")]
    [InlineData("process.resident_memory", "By", false, "process_resident_memory_bytes")]
    [InlineData("process.cpu", "s", true, "process_cpu_seconds_total")]
    [InlineData("dotnet.gc.heap_size", "By", false, "dotnet_gc_heap_size_bytes")]
    public void Metric_names_carry_prefix_unit_and_total(string instrument, string? unit, bool counter, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, unit, counter, "flywheel_", Unprefixed));

    [Theory]
    [InlineData("route", "route")]
    [InlineData("http.route", "http_route")]
    [InlineData("a-b c", "a_b_c")]
    [InlineData("1st", "_1st")]
    [InlineData("größe", "gr_e")]
    public void Label_names_are_sanitized(string key, string expected) =>
        Assert.Equal(expected, PrometheusNaming.LabelName(key));

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData(@"a\b", @"a\\b")]
    [InlineData("say \"hi\"", "say \\\"hi\\\"")]
    [InlineData("two\nlines", @"two\nlines")]
    public void Label_values_are_escaped(string value, string expected) =>
        Assert.Equal(expected, PrometheusNaming.EscapeLabelValue(value));

    [Theory]
    [InlineData(1.5, "1.5")]
    [InlineData(0.0005, "0.0005")]
    [InlineData(10.0, "10")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Values_use_invariant_round_trip_form(double value, string expected) =>
        Assert.Equal(expected, PrometheusNaming.FormatValue(value));

    [Fact]
    public void Non_string_tag_values_render_invariantly()
    {
        Assert.Equal("200", PrometheusNaming.LabelValue(200));
        Assert.Equal("true", PrometheusNaming.LabelValue(true));
        Assert.Equal("0.5", PrometheusNaming.LabelValue(0.5));
        Assert.Equal("", PrometheusNaming.LabelValue(null));
    }
}
