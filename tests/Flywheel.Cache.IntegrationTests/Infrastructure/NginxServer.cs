using System.Net;
using System.Net.Sockets;
using System.Text;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's nginx serving a folder as a static binary cache (what a <c>nix copy --to file://</c> cache behind a web
/// server is), started by the test on a loopback port with its own config, never as root: as root it runs as
/// <c>nobody</c> via runuser. Its access log is how tests count the requests an upstream received.
/// </summary>
public sealed class NginxServer : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private RunningProcess _process = null!;

    private NginxServer(string root, int port)
    {
        Root = root;
        Port = port;
    }

    public string Root { get; }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>What is served.</summary>
    public string WebRoot => Path.Combine(Root, "www");

    /// <summary>The paths of the GET and HEAD requests received so far, in order.</summary>
    public IReadOnlyList<string> RequestedPaths()
    {
        var log = Path.Combine(Root, "access.log");
        return File.Exists(log)
            ? File.ReadAllLines(log).Where(l => l.Length > 0).Select(l => l.Split(' ')[1]).ToList()
            : [];
    }

    public int Count(string path) => RequestedPaths().Count(p => p == path);

    /// <summary>Serves a copy of <paramref name="folder"/>. Throws (never skips) when nginx is not installed.</summary>
    public static async Task<NginxServer> StartAsync(string folder)
    {
        var nginx = RequiredComponent.Program("nginx", "nginx", "/usr/sbin");
        var root = Path.Combine(Path.GetTempPath(), "flywheel-nginx-" + TestTools.RandomNonce(10));
        Directory.CreateDirectory(Path.Combine(root, "tmp"));
        CopyDirectory(folder, Path.Combine(root, "www"));
        var port = LoopbackPorts.Next();
        await File.WriteAllTextAsync(Path.Combine(root, "nginx.conf"), $$"""
            daemon off;
            master_process off;
            worker_processes 1;
            pid {{root}}/nginx.pid;
            error_log {{root}}/error.log warn;
            events { worker_connections 512; }
            http {
                log_format requests '$request_method $uri $status';
                client_body_temp_path {{root}}/tmp/body;
                proxy_temp_path {{root}}/tmp/proxy;
                fastcgi_temp_path {{root}}/tmp/fastcgi;
                uwsgi_temp_path {{root}}/tmp/uwsgi;
                scgi_temp_path {{root}}/tmp/scgi;
                types { text/x-nix-narinfo narinfo; text/x-nix-cache-info nix-cache-info; }
                default_type application/octet-stream;
                server {
                    listen 127.0.0.1:{{port}};
                    root {{root}}/www;
                    access_log {{root}}/access.log requests;
                }
            }
            """);

        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            await TestProcess.RunAsync("chown", ["-R", "nobody:nogroup", root]);
        }

        var server = new NginxServer(root, port);
        var arguments = (asRoot ? new[] { "-u", "nobody", "--", nginx } : []).Concat(["-p", root, "-c", Path.Combine(root, "nginx.conf"), "-e", Path.Combine(root, "error.log")]);
        var process = TestProcess.Start(
            TestProcess.Command(asRoot ? "runuser" : nginx, arguments, Timeout.InfiniteTimeSpan) with { WorkingDirectory = root, MaxOutputChars = 0, MaxErrorChars = 0 },
            server.Append);
        server._process = process;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (process.HasExited)
            {
                var log = File.Exists(Path.Combine(root, "error.log")) ? await File.ReadAllTextAsync(Path.Combine(root, "error.log")) : "";
                throw new InvalidOperationException($"nginx exited with {(await process.Completion).ExitCode}:\n{server.Output}\n{log}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

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

    /// <summary>Stops nginx (the upstream goes away); the files stay until disposal.</summary>
    public async Task StopAsync()
    {
        await _process.DisposeAsync();
    }

    private void Append(string line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
    }


    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
