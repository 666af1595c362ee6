using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// The builds API without running builds (the fixture's daemon has no in-process workers): queueing with push on the
/// cache, problem details for bad requests, the recommendation's reasoning for an installable without history.
/// Builds themselves run in the integration tests with real Nix.
/// </summary>
public sealed class BuildsApiTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public BuildsApiTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    [Fact]
    public async Task A_build_is_queued_on_the_recommended_lane_and_shown()
    {
        using var client = _daemon.CreateClient(await CreateTokenAsync("main", "push"));
        using var response = await client.PostAsJsonAsync("/_api/v1/builds", new { installable = "/src/default.nix#hello", cache = "main" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var build = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("queued", build.GetProperty("status").GetString());
        Assert.Equal("tinyland-nix", build.GetProperty("lane").GetString());
        Assert.StartsWith("recommended: no history yet", build.GetProperty("laneReason").GetString(), StringComparison.Ordinal);

        var id = build.GetProperty("id").GetString();
        var shown = await client.GetFromJsonAsync<JsonElement>($"/_api/v1/builds/{id}");
        Assert.Equal("/src/default.nix#hello", shown.GetProperty("installable").GetString());
        Assert.Contains(id, (await client.GetFromJsonAsync<JsonElement>("/_api/v1/builds?status=queued&installable=%2Fsrc%2Fdefault.nix%23hello"))
            .EnumerateArray().Select(b => b.GetProperty("id").GetString()));

        var asked = await client.PostAsJsonAsync("/_api/v1/builds", new { installable = "/src/default.nix#hello", cache = "main", lane = "tinyland-nix-heavy" });
        Assert.Equal("asked for", (await asked.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("laneReason").GetString());
    }

    [Theory]
    [InlineData("{\"installable\":\"--option x\",\"cache\":\"main\"}", HttpStatusCode.BadRequest, "installable")]
    [InlineData("{\"installable\":\"github:o/r\",\"cache\":\"main\"}", HttpStatusCode.BadRequest, "#ATTR")]
    [InlineData("{\"installable\":\"a.nix#x\",\"cache\":\"main\",\"lane\":\"huge\"}", HttpStatusCode.BadRequest, "no lane 'huge'")]
    [InlineData("{\"installable\":\"a.nix#x\",\"cache\":\"nope\"}", HttpStatusCode.NotFound, "no cache named 'nope'")]
    public async Task Bad_requests_are_problem_details(string body, HttpStatusCode status, string detail)
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await client.PostAsync("/_api/v1/builds", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(status, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submitting_needs_push_on_the_cache()
    {
        using var pull = _daemon.CreateClient(await CreateTokenAsync("main", "pull"));
        using var response = await pull.PostAsJsonAsync("/_api/v1/builds", new { installable = "a.nix#x", cache = "main" });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);

        using var anonymous = _daemon.CreateClient();
        using var none = await anonymous.PostAsJsonAsync("/_api/v1/builds", new { installable = "a.nix#x", cache = "main" });
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
    }

    [Fact]
    public async Task The_recommendation_explains_itself_and_the_report_lists_the_lanes()
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        var r = await client.GetFromJsonAsync<JsonElement>("/_api/v1/lanes/recommendation?installable=x.nix%23never-built");
        Assert.Equal("tinyland-nix", r.GetProperty("lane").GetString());
        Assert.Contains("no history yet", r.GetProperty("explanation").GetString(), StringComparison.Ordinal);

        var report = await client.GetFromJsonAsync<JsonElement>("/_api/v1/lanes/report");
        Assert.Equal(["tinyland-nix", "tinyland-nix-heavy"], report.GetProperty("lanes").EnumerateArray().Select(l => l.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task A_build_log_is_stored_with_push_on_its_cache_and_absent_until_an_attempt_files_it()
    {
        using var push = _daemon.CreateClient(await CreateTokenAsync("main", "push"));
        using var created = await push.PostAsJsonAsync("/_api/v1/builds", new { installable = "/src/default.nix#logged", cache = "main" });
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        using var pull = _daemon.CreateClient(await CreateTokenAsync("main", "pull"));
        using var denied = await pull.PutAsync($"/_api/v1/builds/{id}/log", new StringContent("log"));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        using var stored = await push.PutAsync($"/_api/v1/builds/{id}/log", new StringContent("# bootstrap failed: cannot run 'nix'\n"));
        Assert.Equal(HttpStatusCode.NoContent, stored.StatusCode);
        using var missing = await push.PutAsync("/_api/v1/builds/bnope/log", new StringContent("log"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // the build record names its log only once the worker finishes the attempt (see the real-Nix tests)
        using var notYet = await pull.GetAsync($"/_api/v1/builds/{id}/log");
        Assert.Equal(HttpStatusCode.NotFound, notYet.StatusCode);
        Assert.Contains("has no log yet", (await notYet.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_show_the_queue_depth_of_every_lane()
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        using var created = await client.PostAsJsonAsync("/_api/v1/builds", new { installable = "/src/default.nix#queued", cache = "main", lane = "tinyland-nix-heavy" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        // the gauge is refreshed from the index every few seconds
        var deadline = DateTime.UtcNow + (Flywheel.Cache.Server.BuildHosting.BuildQueueGauge.Period * 4);
        string text;
        do
        {
            await Task.Delay(250);
            text = await client.GetStringAsync("/metrics");
        }
        while (!System.Text.RegularExpressions.Regex.IsMatch(text, "^flywheel_build_queue_depth\\{lane=\"tinyland-nix-heavy\"\\} [1-9]", System.Text.RegularExpressions.RegexOptions.Multiline)
            && DateTime.UtcNow < deadline);

        Assert.Matches(new System.Text.RegularExpressions.Regex("^flywheel_build_queue_depth\\{lane=\"tinyland-nix-heavy\"\\} [1-9]", System.Text.RegularExpressions.RegexOptions.Multiline), text);
        Assert.Contains("flywheel_build_running{lane=\"tinyland-nix-heavy\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE flywheel_build_queue_depth gauge", text, StringComparison.Ordinal);
    }

    private async Task<string> CreateTokenAsync(string cache, string scopes)
    {
        using var admin = _daemon.CreateClient(_daemon.AdminToken);
        using var response = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache, scopes });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("secret").GetString()!;
    }
}
