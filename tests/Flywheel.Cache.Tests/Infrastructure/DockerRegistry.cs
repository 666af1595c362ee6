using System.Diagnostics;
using System.Net.Http;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// A real OCI registry: Debian's <c>docker-registry</c> (distribution 2.8) on a free loopback port with a temporary
/// config and storage folder, no auth (or the extra configuration given, e.g. token auth); killed and removed on dispose. Missing binary: every test using it fails
/// (scripts/test.sh installs it).
/// </summary>
public sealed class DockerRegistry : IAsyncLifetime, IAsyncDisposable
{
    public DockerRegistry()
        : this(S3rverServer.FreePort())
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
    public static DockerRegistry WithConfig(string extraConfig) => new(S3rverServer.FreePort(), extraConfig);

    private readonly string _extraConfig;

    private const string Binary = "/usr/bin/docker-registry";
    private Process? _process;

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
        var start = new ProcessStartInfo(Binary) { ArgumentList = { "serve", config }, RedirectStandardOutput = true, RedirectStandardError = true };
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start docker-registry");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
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

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }

        return Task.CompletedTask;
    }
}
