using System.Net.Http.Headers;
using System.Security.Cryptography;
using Flywheel.Cache.IntegrationTests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Maintenance;

/// <summary><c>flywheel gc [--dry-run]</c> on the data folder of a running daemon: orphans go, live blobs stay served.</summary>
public sealed class GcCommandTests : IAsyncLifetime
{
    private FlywheelProcess _daemon = null!;

    public async Task InitializeAsync() => _daemon = await FlywheelProcess.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Fact]
    public async Task Gc_removes_an_old_orphan_and_keeps_what_the_index_knows()
    {
        var live = RandomNumberGenerator.GetBytes(10_000);
        var liveHash = Convert.ToHexStringLower(SHA256.HashData(live));
        using var http = new HttpClient { BaseAddress = _daemon.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _daemon.AdminToken);
        (await http.PutAsync($"cas/{liveHash}", new ByteArrayContent(live))).EnsureSuccessStatusCode();

        // An orphan, as a crash between storing and recording leaves it: in the blob folder, unknown to the index.
        var orphan = RandomNumberGenerator.GetBytes(5_000);
        var orphanHash = Convert.ToHexStringLower(SHA256.HashData(orphan));
        var orphanPath = Path.Combine(_daemon.DataDirectory, "blobs", orphanHash[..2], orphanHash);
        Directory.CreateDirectory(Path.GetDirectoryName(orphanPath)!);
        await File.WriteAllBytesAsync(orphanPath, orphan);
        File.SetLastWriteTimeUtc(orphanPath, DateTime.UtcNow.AddDays(-1));
        File.SetLastWriteTimeUtc(Path.Combine(_daemon.DataDirectory, "blobs", liveHash[..2], liveHash), DateTime.UtcNow.AddDays(-1));

        var dry = (await FlywheelProcess.CliAsync("gc", "--dry-run", "--data", _daemon.DataDirectory)).EnsureSuccess();
        Assert.Contains("dry run", dry.StandardOutput);
        Assert.Contains("1 orphaned (5000 bytes), 0 removed", dry.StandardOutput);
        Assert.True(File.Exists(orphanPath));

        var run = (await FlywheelProcess.CliAsync("gc", "--data", _daemon.DataDirectory)).EnsureSuccess();
        Assert.Contains("1 removed", run.StandardOutput);
        Assert.False(File.Exists(orphanPath));
        Assert.Equal(live, await http.GetByteArrayAsync($"cas/{liveHash}"));
    }

    [Fact]
    public async Task Retention_quota_and_pins_are_set_with_the_cli_on_a_daemon_and_on_the_data_folder()
    {
        const string path = "/nix/store/0c5z0pwpbkxlpzd8b9a6xhfkzqvmmxkv-hello-2.12";
        string[] server = ["--server", _daemon.BaseAddress.ToString(), "--token", _daemon.AdminToken];
        var created = (await FlywheelProcess.CliAsync(["cache", "create", "kept", "--retention", "30d", "--quota", "10GiB", .. server])).EnsureSuccess();
        Assert.Contains("retention 30d, quota 10GiB", created.StandardOutput);
        (await FlywheelProcess.CliAsync(["cache", "pin", "kept", path, "--reason", "release 1.0", .. server])).EnsureSuccess();

        // The same cache seen through the data folder, no daemon involved.
        string[] local = ["--data", _daemon.DataDirectory];
        var pins = (await FlywheelProcess.CliAsync(["cache", "pins", "kept", .. local])).EnsureSuccess();
        Assert.Contains("0c5z0pwpbkxlpzd8b9a6xhfkzqvmmxkv", pins.StandardOutput);
        Assert.Contains("release 1.0", pins.StandardOutput);
        (await FlywheelProcess.CliAsync(["cache", "update", "kept", "--retention", "off", .. local])).EnsureSuccess();
        var shown = (await FlywheelProcess.CliAsync(["cache", "show", "kept", .. server])).EnsureSuccess();
        Assert.Contains("retention off, quota 10GiB", shown.StandardOutput);
        Assert.Contains("pins: 1", shown.StandardOutput);

        var refused = await FlywheelProcess.CliAsync(["cache", "update", "kept", "--retention", "5m", .. server]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("too short", refused.StandardError);
        (await FlywheelProcess.CliAsync(["cache", "unpin", "kept", path, .. server])).EnsureSuccess();
    }
}
