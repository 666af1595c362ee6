using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.IntegrationTests.Builds;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.IntegrationTests.Promotion;

namespace Flywheel.Cache.IntegrationTests.Ui;

/// <summary>
/// The status page (<c>/ui/</c>) in a real headless Chromium, against the real daemon after real work: a closure
/// built and pushed with real Nix and read back with <c>nix path-info</c> (narinfo hits), a Nix build run by the
/// in-process worker and one killed for memory and rerouted, an image promoted to a real registry and a promotion
/// refused. Each view must show the API's numbers, draw its charts, log no error, and an anonymous visitor must not
/// see the private cache. Screenshots of each view are saved under <see cref="ScreenshotFolder"/>.
/// </summary>
public sealed class StatusPageBrowserTests : IAsyncLifetime
{
    /// <summary>Where the screenshots go: <c>ui-screenshots/</c> in the test output folder.</summary>
    public static readonly string ScreenshotFolder = Path.Combine(AppContext.BaseDirectory, "ui-screenshots");

    private const string Revision = "0123456789abcdef0123456789abcdef01234567";
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private readonly DockerRegistry _registry = new();
    private HeadlessChromium _browser = null!;
    private FlywheelProcess _daemon = null!;
    private HttpClient _admin = null!;
    private string _nonce = "";

    public async Task InitializeAsync()
    {
        _browser = await HeadlessChromium.StartAsync(); // first: a machine without Chromium fails here
        await _registry.InitializeAsync();
        _nonce = _nix.NewNonce();
        var environment = _nix.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!);
        NixBuildOrchestrationRealNixTests.AddTestLanes(environment);
        _daemon = await FlywheelProcess.StartAsync(null, environment);
        _admin = new HttpClient { BaseAddress = _daemon.BaseAddress };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _daemon.AdminToken);
    }

    public async Task DisposeAsync()
    {
        _admin?.Dispose();
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }

        await _registry.DisposeAsync();
        await _browser.DisposeAsync();
        await _nix.DisposeAsync();
    }

    [Fact]
    public async Task Each_view_shows_the_APIs_numbers_and_charts_without_errors_and_hides_private_caches_from_anonymous_visitors()
    {
        var hidden = "hidden-" + _nonce[..8];
        using (var create = await _admin.PostAsJsonAsync("_api/v1/caches", new { name = hidden, @public = false }))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        }

        // real work: a pushed closure read back by Nix, two builds (one rerouted for memory), two promotions
        var (image, tool) = await PushAsync();
        var main = new Uri(_daemon.BaseAddress, "main").ToString();
        (await _nix.RunAsync("nix", ["path-info", "--store", main, image, tool])).EnsureSuccess();
        var hello = await BuildAsync("hello");
        var hog = await BuildAsync("hog");
        Assert.Equal("succeeded", hello.GetProperty("status").GetString());
        Assert.Equal("succeeded", hog.GetProperty("status").GetString());
        Assert.Equal("big", hog.GetProperty("lane").GetString());
        var (published, refused) = await PromoteAsync(image);

        // `flywheel serve` prints the page's address
        var url = _daemon.Output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("status page:", StringComparison.Ordinal))["status page:".Length..].Trim();
        Assert.Equal(new Uri(_daemon.BaseAddress, "ui/").ToString(), url);

        // ---- anonymous ----
        await _browser.NavigateAsync(url);
        await WaitForViewAsync("overview");
        var transferred = (await _browser.EvaluateAsync(
            "performance.getEntriesByType('navigation')[0].transferSize + performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, 0)")).GetInt64();
        Assert.InRange(transferred, 1, 200 * 1024);
        using var anonymousClient = new HttpClient { BaseAddress = _daemon.BaseAddress };
        var anonymous = await anonymousClient.GetFromJsonAsync<JsonElement>("_api/v1/overview");
        var mainView = Cache(anonymous, "main");
        Assert.True(mainView.GetProperty("lastHour").GetProperty("totalHits").GetInt64() > 0, mainView.ToString());
        await AssertOverviewShowsAsync(mainView);
        await AssertChartAsync("hour-main", 60);
        await AssertChartAsync("day-main", 24);
        Assert.False((await _browser.EvaluateAsync($"document.documentElement.outerHTML.includes('{hidden}')")).GetBoolean());
        Assert.DoesNotContain(hidden, anonymous.GetRawText(), StringComparison.Ordinal);
        await _browser.ScreenshotAsync(Path.Combine(ScreenshotFolder, "overview-anonymous.png"));

        await ShowAsync("builds");
        Assert.True((await _browser.EvaluateAsync("document.querySelector('[data-needs-token]') !== null && document.querySelector('[data-build]') === null")).GetBoolean());
        Assert.DoesNotContain(_browser.Requests, r => r.Url.Contains("/_api/v1/builds", StringComparison.Ordinal) || r.Url.Contains("/_api/v1/lanes", StringComparison.Ordinal));

        // ---- a token pasted into the page: kept in sessionStorage, sent as Authorization, never in a URL ----
        await _browser.EvaluateAsync($"document.getElementById('token').value = '{_daemon.AdminToken}'; document.getElementById('token-form').requestSubmit(); true");
        Assert.Equal(_daemon.AdminToken, (await _browser.EvaluateAsync("sessionStorage.getItem('flywheel-token')")).GetString());
        Assert.Equal(0, (await _browser.EvaluateAsync("localStorage.length")).GetInt32());
        await ShowAsync("overview");
        await _browser.WaitForAsync($"document.querySelector('[data-cache=\"{hidden}\"]') !== null", TimeSpan.FromSeconds(30));
        await AssertOverviewShowsAsync(Cache(await _admin.GetFromJsonAsync<JsonElement>("_api/v1/overview"), "main"));
        await _browser.ScreenshotAsync(Path.Combine(ScreenshotFolder, "overview.png"));

        await ShowAsync("builds");
        await AssertBuildsShowAsync(hello, hog);
        await _browser.ScreenshotAsync(Path.Combine(ScreenshotFolder, "builds.png"));

        await ShowAsync("promotions");
        await AssertPromotionsShowAsync(published, refused);
        await _browser.ScreenshotAsync(Path.Combine(ScreenshotFolder, "promotions.png"));

        var api = _browser.Requests.Where(r => r.Url.Contains("/_api/v1/", StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(_browser.Requests, r => r.Url.Contains(_daemon.AdminToken, StringComparison.Ordinal));
        Assert.Contains(api, r => r.Authorization == "Bearer " + _daemon.AdminToken);
        Assert.Contains(api, r => r.Authorization is null); // the anonymous part sent none
        Assert.True(_browser.Errors.Count == 0, "the page reported errors:\n" + string.Join("\n", _browser.Errors));
    }

    private async Task AssertOverviewShowsAsync(JsonElement cache)
    {
        var shown = await FiguresAsync($"[data-cache=\"{cache.GetProperty("name").GetString()}\"]");
        var usage = cache.GetProperty("usage");
        Assert.Equal(usage.GetProperty("narInfos").GetInt64().ToString(CultureInfo.InvariantCulture), shown["narinfos"].Text);
        Assert.True(usage.GetProperty("narInfos").GetInt64() >= 2);
        Assert.Equal(usage.GetProperty("narBytes").GetInt64(), long.Parse(shown["nar-bytes"].Value, CultureInfo.InvariantCulture));
        Assert.Equal(usage.GetProperty("blobBytes").GetInt64(), long.Parse(shown["cas-bytes"].Value, CultureInfo.InvariantCulture));
        foreach (var (window, suffix) in new[] { ("lastHour", "hour"), ("lastDay", "day") })
        {
            var activity = cache.GetProperty(window);
            Assert.Equal(activity.GetProperty("totalRequests").GetInt64().ToString(CultureInfo.InvariantCulture), shown["requests-" + suffix].Text);
            Assert.Equal(activity.GetProperty("totalUploads").GetInt64().ToString(CultureInfo.InvariantCulture), shown["uploads-" + suffix].Text);
            var ratio = activity.GetProperty("hitRatio").GetDouble();
            Assert.Equal(ratio, double.Parse(shown["hit-ratio-" + suffix].Value, CultureInfo.InvariantCulture));
            Assert.Equal((ratio * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%", shown["hit-ratio-" + suffix].Text);
        }
    }

    private async Task AssertBuildsShowAsync(JsonElement hello, JsonElement hog)
    {
        var recent = await _admin.GetFromJsonAsync<JsonElement>("_api/v1/builds?limit=20");
        var rows = await _browser.EvaluateAsync(
            "[...document.querySelectorAll('[data-table=\"recent\"] tr[data-build]')].map(r => [r.dataset.build, r.querySelector('.badge').textContent])");
        Assert.Equal(
            recent.EnumerateArray().Select(b => $"{b.GetProperty("id").GetString()}={b.GetProperty("status").GetString()}"),
            rows.EnumerateArray().Select(r => $"{r[0].GetString()}={r[1].GetString()}"));
        Assert.Equal((await _admin.GetFromJsonAsync<JsonElement>("_api/v1/builds?status=queued")).GetArrayLength(), await FieldAsync("queued"));
        Assert.Equal((await _admin.GetFromJsonAsync<JsonElement>("_api/v1/builds?status=running")).GetArrayLength(), await FieldAsync("running"));

        // the timeline: one bar per phase of each attempt, as the API lists them
        var helloId = hello.GetProperty("id").GetString();
        var phases = await _browser.EvaluateAsync(
            $"[...document.querySelectorAll('tr[data-build=\"{helloId}\"] .timeline[data-attempt=\"1\"] > span')].map(s => s.className + ':' + (s.getBoundingClientRect().width > 0))");
        Assert.Equal(
            hello.GetProperty("attempts")[0].GetProperty("phases").EnumerateArray().Select(p => $"phase-{p.GetProperty("name").GetString()}:true"),
            phases.EnumerateArray().Select(p => p.GetString()));

        // the OOM reroute, and the recommendation it led to on the big lane
        var hogId = hog.GetProperty("id").GetString();
        Assert.True(await FieldAsync("oom-reroutes") >= 1);
        Assert.Equal(hog.GetProperty("laneReason").GetString(), (await _browser.EvaluateAsync($"document.querySelector('li[data-build=\"{hogId}\"]').textContent.split(': ').slice(1).join(': ')")).GetString());
        var installable = hog.GetProperty("installable").GetString()!;
        var recommendation = await _admin.GetFromJsonAsync<JsonElement>("_api/v1/lanes/recommendation?installable=" + Uri.EscapeDataString(installable));
        Assert.Equal("big", recommendation.GetProperty("lane").GetString());
        var shownRecommendation = await _browser.EvaluateAsync(
            $"[...document.querySelectorAll('[data-lane=\"big\"] li[data-recommendation]')].filter(l => l.dataset.recommendation === {JsonSerializer.Serialize(installable)}).map(l => l.textContent)[0]");
        Assert.Equal(installable + ": " + recommendation.GetProperty("explanation").GetString(), shownRecommendation.GetString());

        // each lane: its envelope and live workers as the API says, and the peak-memory chart drawn
        foreach (var lane in (await _admin.GetFromJsonAsync<JsonElement>("_api/v1/lanes")).EnumerateArray())
        {
            var name = lane.GetProperty("name").GetString()!;
            var shown = await FiguresAsync($"[data-lane=\"{name}\"]");
            Assert.Equal(lane.GetProperty("memoryBytes").GetInt64(), long.Parse(shown["memory"].Value, CultureInfo.InvariantCulture));
            Assert.Equal(lane.GetProperty("workers").GetArrayLength().ToString(CultureInfo.InvariantCulture), shown["workers"].Text);
            Assert.True(lane.GetProperty("workers").GetArrayLength() >= 1);
            var bars = await _browser.EvaluateAsync(
                $"[...document.querySelectorAll('svg[data-chart=\"memory-{name}\"] rect.peak')].filter(r => r.getBBox().width > 0).length");
            Assert.True(bars.GetInt32() >= 1, $"no peak-memory bars on lane {name}");
            Assert.Equal(1, (await _browser.EvaluateAsync($"document.querySelectorAll('svg[data-chart=\"memory-{name}\"] line.envelope').length")).GetInt32());
        }
    }

    private async Task AssertPromotionsShowAsync(string published, string refused)
    {
        foreach (var id in new[] { published, refused })
        {
            var record = await _admin.GetFromJsonAsync<JsonElement>($"_api/v1/promotions/{id}");
            var rules = await _browser.EvaluateAsync(
                $"[...document.querySelectorAll('[data-promotion=\"{id}\"] li[data-rule]')].map(r => r.dataset.rule + '=' + r.dataset.passed)");
            Assert.Equal(
                record.GetProperty("decision").GetProperty("rules").EnumerateArray().Select(r => $"{r.GetProperty("rule").GetString()}={(r.GetProperty("passed").GetBoolean() ? "true" : "false")}"),
                rules.EnumerateArray().Select(r => r.GetString()));
            var shown = await FiguresAsync($"[data-promotion=\"{id}\"]");
            if (id == published)
            {
                var publication = record.GetProperty("publication");
                Assert.Equal(publication.GetProperty("reference").GetString(), shown["reference"].Value);
                Assert.Equal(publication.GetProperty("details").GetProperty("manifestDigest").GetString(), shown["digest"].Value);
                Assert.Equal(record.GetProperty("provenanceSha256").GetString(), shown["provenance"].Value);
            }
            else
            {
                Assert.Equal("rejected", record.GetProperty("status").GetString());
                Assert.Equal("", shown["reference"].Value);
            }
        }
    }

    private async Task AssertChartAsync(string chart, int buckets)
    {
        var bars = await _browser.EvaluateAsync($"[...document.querySelectorAll('svg[data-chart=\"{chart}\"] rect.requests')].map(r => r.getBBox().height)");
        Assert.Equal(buckets, bars.GetArrayLength());
        Assert.Contains(bars.EnumerateArray(), h => h.GetDouble() > 0);
    }

    private async Task ShowAsync(string view)
    {
        await _browser.EvaluateAsync($"document.getElementById('view').removeAttribute('data-loaded'); location.hash = '#{view}'; true");
        await WaitForViewAsync(view);
    }

    private Task WaitForViewAsync(string view) =>
        _browser.WaitForAsync($"document.querySelector('#view[data-view=\"{view}\"][data-loaded]') !== null", TimeSpan.FromSeconds(60));

    private async Task<long> FieldAsync(string field) =>
        long.Parse((await _browser.EvaluateAsync($"document.querySelector('[data-field=\"{field}\"]').dataset.value")).GetString()!, CultureInfo.InvariantCulture);

    /// <summary>The figures (<c>data-field</c>) inside <paramref name="scope"/>: raw value and shown text.</summary>
    private async Task<Dictionary<string, (string Value, string Text)>> FiguresAsync(string scope)
    {
        var figures = await _browser.EvaluateAsync(
            $"[...document.querySelectorAll('{scope} [data-field]')].map(e => [e.dataset.field, e.dataset.value || '', e.textContent])");
        return figures.EnumerateArray().ToDictionary(f => f[0].GetString()!, f => (f[1].GetString()!, f[2].GetString()!));
    }

    private static JsonElement Cache(JsonElement overview, string name) =>
        overview.GetProperty("caches").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private async Task<(string Image, string Tool)> PushAsync()
    {
        var built = await _nix.BuildExpressionAsync("ui", PromotionRealNixTests.Expression(_nonce), "image", "tool");
        await _nix.CopyToAsync(new Uri(_daemon.BaseAddress, "main") + "?compression=zstd", built, _nix.WriteNetrc("127.0.0.1", _daemon.AdminToken));
        return (built[0], built[1]);
    }

    /// <summary>Builds an attribute of the orchestration tests' expression (with this test's nonce) on the daemon's in-process worker.</summary>
    private async Task<JsonElement> BuildAsync(string attribute)
    {
        var file = Path.Combine(_nix.Root, "exprs", "ui-builds.nix");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllTextAsync(file, NixBuildOrchestrationRealNixTests.BuildsExpression(_nonce));
        }

        return await NixBuildOrchestrationRealNixTests.BuildAsync(_daemon, _admin, file + "#" + attribute);
    }

    /// <summary>Promotes the image to the registry (published) and asks again under a policy it fails (rejected); returns both ids.</summary>
    private async Task<(string Published, string Refused)> PromoteAsync(string image)
    {
        var token = (await FlywheelProcess.CliAsync(
            "token", "create", "--cache", "main", "--scope", "pull,push,promote", "--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken))
            .EnsureSuccess().StandardOutput.Trim();
        async Task<JsonElement> Promote(string policy, string target, int exitCode)
        {
            var file = Path.Combine(_nix.Root, $"policy-{Guid.NewGuid():N}.yaml");
            await File.WriteAllTextAsync(file, policy);
            var result = await FlywheelProcess.CliAsync(
                new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = Path.Combine(_nix.Root, "no-registry-auth.json") },
                ["promote", "--server", _daemon.BaseAddress.ToString(), "--token", token, "--cache", "main", "--policy", file,
                    "--source", "https://github.com/o/app", "--revision", Revision, "--attr", "packages.x86_64-linux.image", "--to", target, "--json", image]);
            Assert.True(result.ExitCode == exitCode, result.ToString());
            return JsonDocument.Parse(result.StandardOutput).RootElement;
        }

        var published = await Promote("trustCacheKey: true\nallow: [\"packages.*.image\"]\n", $"oci://{_registry.Host}/app:v1", 0);
        var refused = await Promote(
            $"trustedKeys: [\"other-1:{Convert.ToBase64String(new byte[32])}\"]\nallow: [\"packages.*.other\"]\n", $"oci://{_registry.Host}/app:v2", 1);
        return (published.GetProperty("id").GetString()!, refused.GetProperty("id").GetString()!);
    }
}
