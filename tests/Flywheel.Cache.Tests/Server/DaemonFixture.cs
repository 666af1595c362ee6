using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.Server;
using Flywheel.Cache.Server.Hosting;
using Microsoft.AspNetCore.Builder;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// A real daemon (Kestrel on a loopback port, embedded default in a temporary data folder) for one test class. Its
/// in-process build workers are off (<c>Builds:Workers = 0</c>: queued builds stay queued) unless made with
/// <c>defaultWorkers</c>, which keeps the embedded default's one worker per lane.
/// </summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    private readonly bool _defaultWorkers;
    private WebApplication? _app;

    public DaemonFixture()
        : this(defaultWorkers: false)
    {
    }

    internal DaemonFixture(bool defaultWorkers)
    {
        _defaultWorkers = defaultWorkers;
    }

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "flywheel-test-" + Guid.NewGuid().ToString("N"));

    public Uri BaseAddress { get; private set; } = null!;

    public Uri GrpcAddress { get; private set; } = null!;

    public string AdminToken { get; private set; } = "";

    public IServiceProvider Services => _app!.Services;

    public Dictionary<string, string?> Settings { get; } = new();

    public async Task InitializeAsync()
    {
        Settings[ConfigKeys.Http] = "127.0.0.1:0";
        Settings[ConfigKeys.Grpc] = "127.0.0.1:0";
        Settings[ConfigKeys.Data] = DataDirectory;
        Settings.TryAdd(ConfigKeys.MaxNarInfoBytes, "16384");
        if (!_defaultWorkers)
        {
            Settings.TryAdd(ConfigKeys.BuildsWorkers, "0");
        }

        _app = FlywheelHost.Build(Settings);
        var bound = await FlywheelHost.StartAsync(_app, CancellationToken.None);
        BaseAddress = bound.Http;
        GrpcAddress = new Uri($"http://{bound.Grpc.Authority}/");
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, Bootstrap.AdminTokenFile))).Trim();
    }

    public HttpClient CreateClient(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>A new token (its secret) with <paramref name="scopes"/> on caches matching <paramref name="cache"/>, made with the admin token.</summary>
    public async Task<string> CreateTokenAsync(string cache, string scopes)
    {
        using var admin = CreateClient(AdminToken);
        using var response = await admin.PostAsJsonAsync("/_api/v1/tokens", new { cache, scopes });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("secret").GetString()!;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a leftover temp folder does not fail the test run
        }
    }
}
