using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// The real <c>flywheel</c> executable, started as users start it (<c>flywheel serve --http … --data …</c>) on a free
/// loopback port with a temporary data folder; what it prints at start is parsed for the key and token path.
/// </summary>
public sealed class FlywheelProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private RunningProcess _process = null!;

    private FlywheelProcess(string dataDirectory, int port, int grpcPort)
    {
        DataDirectory = dataDirectory;
        Port = port;
        GrpcPort = grpcPort;
    }

    private int _disposed;

    public string DataDirectory { get; }

    public int Port { get; }

    public int GrpcPort { get; }

    /// <summary>What Bazel takes as --remote_cache for the REAPI over gRPC.</summary>
    public string GrpcUrl => $"grpc://127.0.0.1:{GrpcPort}";

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public string PublicKey { get; private set; } = "";

    public string AdminToken { get; private set; } = "";

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string FlywheelDll => Path.Combine(AppContext.BaseDirectory, "flywheel.dll");

    public static Task<FlywheelProcess> StartAsync(string? dataDirectory = null, params string[] extraArgs) =>
        StartAsync(dataDirectory, new Dictionary<string, string>(), extraArgs);

    /// <summary>
    /// Starts the daemon with extra environment variables (e.g. FLYWHEEL_POSTGRES, AWS_ACCESS_KEY_ID) and flags. Its
    /// ports are picked free before it starts, so another process can take one in between (seen in CI): a daemon that
    /// exits because its address is in use is started again on other ports, at most three times in all.
    /// </summary>
    public static async Task<FlywheelProcess> StartAsync(string? dataDirectory, IReadOnlyDictionary<string, string> environment, params string[] extraArgs)
    {
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "flywheel-it-" + Guid.NewGuid().ToString("N"));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnFreePortsAsync(dataDirectory, environment, extraArgs);
            }
            catch (AddressInUseException) when (attempt < 3)
            {
                // picked ports were taken before the daemon bound them: pick again
            }
        }
    }

    private static async Task<FlywheelProcess> StartOnFreePortsAsync(string dataDirectory, IReadOnlyDictionary<string, string> environment, string[] extraArgs)
    {
        var port = LoopbackPorts.Next();
        var grpcPort = LoopbackPorts.Next();
        var daemon = new FlywheelProcess(dataDirectory, port, grpcPort);
        var process = TestProcess.Start(
            TestProcess.Command("dotnet", new[] { FlywheelDll, "serve", "--http", $"127.0.0.1:{port}", "--grpc", $"127.0.0.1:{grpcPort}", "--data", dataDirectory }.Concat(extraArgs),
                Timeout.InfiniteTimeSpan) with
            { Environment = environment.ToDictionary(e => e.Key, e => (string?)e.Value), MaxOutputChars = 0, MaxErrorChars = 0 },
            daemon.Append);
        daemon._process = process;

        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (process.HasExited)
            {
                var message = $"flywheel exited with {(await process.Completion).ExitCode}:\n{daemon.Output}";
                throw daemon.Output.Contains("address already in use", StringComparison.Ordinal)
                    ? new AddressInUseException(message)
                    : new InvalidOperationException(message);
            }

            try
            {
                using var response = await http.GetAsync(new Uri(daemon.BaseAddress, "healthz"));
                if (response.IsSuccessStatusCode && daemon.Output.Contains("admin token:", StringComparison.Ordinal))
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"flywheel did not become healthy within 60 s:\n{daemon.Output}");
            }

            await Task.Delay(100);
        }

        daemon.PublicKey = daemon.Output.Split('\n').Select(l => l.Trim())
            .First(l => l.StartsWith("trusted-public-keys:", StringComparison.Ordinal))["trusted-public-keys:".Length..].Trim();
        var tokenFile = Path.Combine(dataDirectory, "admin.token");
        daemon.AdminToken = File.Exists(tokenFile) ? (await File.ReadAllTextAsync(tokenFile)).Trim() : "";
        return daemon;
    }

    /// <summary>
    /// <c>kill -9</c> of the daemon (SIGKILL: no shutdown code runs, nothing is flushed) and waits for it to be gone;
    /// the data folder stays, for a restart on it.
    /// </summary>
    public async Task KillAsync()
    {
        using (var process = System.Diagnostics.Process.GetProcessById(_process.ProcessId))
        {
            process.Kill();
        }

        await WaitForExitAsync();
    }

    /// <summary>Waits (at most a minute) for the daemon to exit on its own; its exit code.</summary>
    public async Task<int> WaitForExitAsync() =>
        (await _process.Completion.WaitAsync(TimeSpan.FromMinutes(1))).ExitCode;

    /// <summary>Runs the <c>flywheel</c> CLI (the same executable) and returns its result.</summary>
    public static Task<ProcessResult> CliAsync(params string[] args) =>
        TestProcess.RunAsync("dotnet", new[] { FlywheelDll }.Concat(args), timeout: TimeSpan.FromSeconds(60));

    /// <summary>Runs the <c>flywheel</c> CLI with these environment variables set (e.g. backend credentials).</summary>
    public static Task<ProcessResult> CliAsync(IReadOnlyDictionary<string, string> environment, string[] args) =>
        TestProcess.RunAsync(
            "dotnet", new[] { FlywheelDll }.Concat(args), environment.ToDictionary(e => e.Key, e => (string?)e.Value), timeout: TimeSpan.FromSeconds(120));

    private void Append(string line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    /// <summary>The daemon exited at start because another process took one of the ports picked for it.</summary>
    private sealed class AddressInUseException(string message) : InvalidOperationException(message);


    /// <summary>Kills the daemon and keeps its data folder (a later <see cref="StartAsync(string?, string[])"/> on it sees what it stored).</summary>
    public async Task StopAsync() => await _process.StopAsync();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // a test that stops a daemon early disposes it twice
        }

        await _process.DisposeAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
