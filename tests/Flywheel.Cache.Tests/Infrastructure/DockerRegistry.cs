using System.Net.Http;
using Flywheel.Cache.Builds;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// A real OCI registry: Debian's <c>docker-registry</c> (distribution 2.8) on a free loopback port with a temporary
/// config and storage folder, no auth (or the extra configuration given, e.g. token auth); killed and removed on dispose. Missing binary: every test using it fails
/// (scripts/test.sh installs it).
/// </summary>
public sealed class DockerRegistry : IAsyncLifetime, IAsyncDisposable
{
    public DockerRegistry()
        : this(LoopbackPorts.Next())
    {
    }

    private DockerRegistry(int port, string extraConfig = "")
    {
        Port = port;
        _extraConfig = extraConfig;
    }

    /// <summary>A registry that will listen on <paramref name="port"/> once initialized.</summary>
    public static DockerRegistry OnPort(int port) => new(port);

    /// <summary>A registry with more top-level configuration (YAML, e.g. an <c>auth:</c> section).</summary>
    public static DockerRegistry WithConfig(string extraConfig) => new(LoopbackPorts.Next(), extraConfig);

    private readonly string _extraConfig;

    private const string Binary = "/usr/bin/docker-registry";
    private RunningProcess? _process;

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "flywheel-registry-" + Guid.NewGuid().ToString("N"));

    public int Port { get; }

    /// <summary><c>127.0.0.1:PORT</c>, as in oci:// targets and skopeo references.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public async Task InitializeAsync()
    {
        RequiredComponent.FileAt(Binary, "docker-registry", "the Debian package docker-registry (apt-get install docker-registry)");

        System.IO.Directory.CreateDirectory(Directory);
        var config = Path.Combine(Directory, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(Directory, "data")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}

            """ + _extraConfig);
        _process = TestProcess.Runner.Start(
            TestProcess.Command(Binary, ["serve", config], Timeout.InfiniteTimeSpan) with { MaxOutputChars = 0, MaxErrorChars = 64 * 1024 }, null, null);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync($"http://{Host}/v2/");
                if ((int)response.StatusCode is 200 or 401)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"docker-registry did not start on {Host}");
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }

    }
}
