using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.Server;
using Flywheel.Cache.Server.BuildHosting;
using Microsoft.Extensions.Configuration;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// On the embedded default (SQLite) a daemon runs one in-process build worker per lane, so a queued build is taken
/// without any set-up; <c>GET /_api/v1/lanes</c> shows each lane's live workers. With PostgreSQL none run unless asked for.
/// </summary>
public sealed class InProcessBuildWorkersTests : IAsyncLifetime
{
    private readonly DaemonFixture _daemon = new(defaultWorkers: true);

    public Task InitializeAsync() => _daemon.InitializeAsync();

    public Task DisposeAsync() => _daemon.DisposeAsync();

    [Fact]
    public async Task With_default_settings_each_lane_has_a_live_worker_and_a_queued_build_is_taken()
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        var lanes = await WaitForAsync(
            () => client.GetFromJsonAsync<JsonElement>("/_api/v1/lanes"),
            l => l.EnumerateArray().All(lane => lane.GetProperty("workers").GetArrayLength() > 0));
        Assert.Equal(["tinyland-nix", "tinyland-nix-heavy"], lanes.EnumerateArray().Select(l => l.GetProperty("name").GetString()));
        foreach (var lane in lanes.EnumerateArray())
        {
            var worker = Assert.Single(lane.GetProperty("workers").EnumerateArray());
            Assert.EndsWith("/in-process-" + lane.GetProperty("name").GetString(), worker.GetProperty("id").GetString(), StringComparison.Ordinal);
            Assert.Equal(Environment.MachineName, worker.GetProperty("host").GetString());
            Assert.True(DateTimeOffset.UtcNow - worker.GetProperty("lastSeen").GetDateTimeOffset() < BuildOptions.DefaultLiveWindow);
        }

        // nothing else set up: the build is taken by the worker of its lane (it fails there: the file does not exist)
        using var created = await client.PostAsJsonAsync("/_api/v1/builds",
            new { installable = $"/nonexistent-{Guid.NewGuid():N}/default.nix#x", cache = "main", lane = "tinyland-nix-heavy" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var build = await WaitForAsync(() => client.GetFromJsonAsync<JsonElement>($"/_api/v1/builds/{id}"), b => b.GetProperty("status").GetString() is "failed" or "succeeded");
        Assert.Equal("failed", build.GetProperty("status").GetString());
        Assert.Equal(1, build.GetProperty("attempt").GetInt32());
        Assert.EndsWith("/in-process-tinyland-nix-heavy", build.GetProperty("worker").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sqlite", null, 2, true)]
    [InlineData("postgres", null, 0, false)]
    [InlineData("sqlite", "0", 0, false)]
    [InlineData("postgres", "3", 3, false)]
    public void In_process_workers_default_to_one_per_lane_on_sqlite_and_none_on_postgres(string index, string? workers, int count, bool onePerLane)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [ConfigKeys.BuildsWorkers] = workers }).Build();
        var errors = new List<string>();
        var options = BuildOptions.Load(configuration, errors);
        Assert.Empty(errors);
        Assert.Equal((count, onePerLane), options.InProcessWorkers(index));
    }

    private static async Task<JsonElement> WaitForAsync(Func<Task<JsonElement>> read, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var value = await read();
        while (!done(value) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            value = await read();
        }

        return done(value) ? value : throw new TimeoutException($"still not there after 60 s: {value}");
    }
}
