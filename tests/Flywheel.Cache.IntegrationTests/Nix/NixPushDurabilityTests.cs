using System.Net;
using Flywheel.Cache.IntegrationTests.Infrastructure;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.IntegrationTests.Nix;

/// <summary>
/// The durability model of a push (README, "Durability"), with the real daemon and real Nix 2.8: what `nix copy --to`
/// was told is stored survives `kill -9` of the daemon; after a machine crash (simulated: killed before any sync
/// round, then the unsynced blobs' bytes cut) the restarted daemon serves nothing whose bytes are gone and the push
/// works again; a crash between a NAR's blob and its index rows leaves no row (the narinfo is not served, the cache
/// does not claim the NAR) and garbage collection removes the unnamed blob.
/// </summary>
public sealed class NixPushDurabilityTests : IAsyncLifetime
{
    private readonly NixEnvironment _nix = NixEnvironment.Require();
    private readonly string _data = Path.Combine(Path.GetTempPath(), "flywheel-it-" + Guid.NewGuid().ToString("N"));
    private readonly List<FlywheelProcess> _daemons = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var daemon in _daemons)
        {
            await daemon.DisposeAsync();
        }

        await _nix.DisposeAsync();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task A_pushed_closure_survives_kill_minus_9_and_substitutes_from_the_restarted_daemon()
    {
        var closure = await _nix.BuildClosureAsync("durable");
        var hashes = await NarHashesAsync(closure.Closure);
        var first = await StartAsync();
        var netrc = _nix.WriteNetrc("127.0.0.1", first.AdminToken);
        await _nix.CopyToAsync(new Uri(first.BaseAddress, "main") + "?compression=zstd", [closure.Top], netrc);

        await first.KillAsync(); // at once: whatever was acknowledged must already be where a restart finds it
        var second = await StartAsync();
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(new Uri(second.BaseAddress, "main").ToString(), [closure.Top], second.PublicKey, netrc);

        Assert.Equal(hashes, await NarHashesAsync(closure.Closure));
    }

    [Fact]
    public async Task After_a_machine_crash_nars_whose_bytes_were_lost_are_not_served_and_the_closure_can_be_pushed_again()
    {
        var closure = await _nix.BuildClosureAsync("machine-crash");
        var hashes = await NarHashesAsync(closure.Closure);
        // No sync round before the crash: every upload is acknowledged and indexed, its bytes only in the page cache.
        var first = await StartAsync(new Dictionary<string, string> { ["FLYWHEEL_DISK__SYNCINTERVAL"] = "01:00:00" });
        var netrc = _nix.WriteNetrc("127.0.0.1", first.AdminToken);
        await _nix.CopyToAsync(new Uri(first.BaseAddress, "main") + "?compression=zstd", [closure.Top], netrc);
        await first.KillAsync();

        // The machine stops before writeback: the files have their names (journaled) and no bytes.
        var blobs = BlobFiles(Path.Combine(_data, "blobs"));
        Assert.NotEmpty(blobs);
        foreach (var blob in blobs)
        {
            await using var file = new FileStream(blob, FileMode.Open, FileAccess.Write);
            file.SetLength(0);
        }

        var restarted = await StartAsync();
        using var http = new HttpClient { BaseAddress = restarted.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", restarted.AdminToken);
        foreach (var path in closure.Closure)
        {
            using var narinfo = await http.GetAsync($"main/{NixClosure.HashPart(path)}.narinfo");
            Assert.Equal(HttpStatusCode.NotFound, narinfo.StatusCode);
        }

        using (var cas = await http.GetAsync($"main/cas/{Path.GetFileName(blobs[0])}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, cas.StatusCode);
        }

        Assert.Contains("flywheel_recovery_dropped_blobs_total " + blobs.Count, await http.GetStringAsync("metrics"));

        await _nix.CopyToAsync(new Uri(restarted.BaseAddress, "main") + "?compression=zstd", [closure.Top], netrc);
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(new Uri(restarted.BaseAddress, "main").ToString(), [closure.Top], restarted.PublicKey, netrc);
        Assert.Equal(hashes, await NarHashesAsync(closure.Closure));
    }

    [Fact]
    public async Task A_crash_between_a_nar_blob_and_its_index_rows_leaves_no_row_and_gc_removes_the_blob()
    {
        var closure = await _nix.BuildClosureAsync("crash-point");
        var crashing = await StartAsync(new Dictionary<string, string> { [CrashPoints.EnvironmentVariable] = CrashPoints.NarBlobPublished });
        var netrc = _nix.WriteNetrc("127.0.0.1", crashing.AdminToken);

        var push = await _nix.CopyToAsync(new Uri(crashing.BaseAddress, "main") + "?compression=zstd", [closure.Leaf], netrc, check: false);
        Assert.NotEqual(0, push.ExitCode);
        Assert.NotEqual(0, await crashing.WaitForExitAsync()); // it killed itself at the crash point
        var blobs = Path.Combine(_data, "blobs");
        var orphans = BlobFiles(blobs);
        Assert.Single(orphans); // the NAR's blob made it to its name; nothing else did

        var restarted = await StartAsync();
        using var http = new HttpClient { BaseAddress = restarted.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", restarted.AdminToken);
        using (var narinfo = await http.GetAsync($"main/{NixClosure.HashPart(closure.Leaf)}.narinfo"))
        {
            Assert.Equal(HttpStatusCode.NotFound, narinfo.StatusCode);
        }

        // The cache does not own the bytes: a narinfo naming them is refused until the NAR is uploaded.
        var digest = Path.GetFileName(orphans[0]);
        using (var cas = await http.GetAsync($"main/cas/{digest}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, cas.StatusCode);
        }

        await restarted.KillAsync(); // stopped (disposing would delete the data folder)
        await Task.Delay(TimeSpan.FromSeconds(2)); // older than the shortest grace gc accepts
        var gc = await FlywheelProcess.CliAsync("gc", "--data", _data, "--grace", "1s");
        Assert.True(gc.ExitCode == 0, gc.Describe("flywheel gc"));
        Assert.Empty(BlobFiles(blobs));

        // And the push, done again, works.
        var again = await StartAsync();
        await _nix.CopyToAsync(new Uri(again.BaseAddress, "main") + "?compression=zstd", [closure.Leaf], netrc);
        await _nix.DeletePathsAsync(closure.Closure);
        await _nix.CopyFromAsync(new Uri(again.BaseAddress, "main").ToString(), [closure.Leaf], again.PublicKey, netrc);
        Assert.True(await _nix.IsValidAsync(closure.Leaf));
    }

    private async Task<FlywheelProcess> StartAsync(Dictionary<string, string>? environment = null)
    {
        var daemon = await FlywheelProcess.StartAsync(_data, environment ?? new Dictionary<string, string>());
        _daemons.Add(daemon);
        return daemon;
    }

    private static List<string> BlobFiles(string root) =>
        Directory.EnumerateDirectories(root).Where(d => Path.GetFileName(d).Length == 2)
            .SelectMany(Directory.EnumerateFiles).ToList();

    private async Task<List<string>> NarHashesAsync(IEnumerable<string> paths) =>
        [.. (await _nix.RunAsync("nix-store", ["--query", "--hash", .. paths])).EnsureSuccess().StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
}
